package workflows

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"time"

	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/client"

	"github.com/ordersaga/ordersaga/shop"
)

// failedWatch tells the Wait calls of one engine when their order turns
// FAILED. A FAILED order's workflow keeps running, so the long poll for its
// close never answers; instead of each Wait asking the server about its own
// order every second, one goroutine asks visibility once per interval which
// of the awaited orders are FAILED. It runs while someone waits, and ends
// at the first tick with nobody waiting.
type failedWatch struct {
	client   client.Client
	interval time.Duration

	mu      sync.Mutex
	waiting map[string]map[chan struct{}]bool // workflow ID → its waiters
	running bool
}

// maxIDsPerQuery bounds the workflow IDs of one visibility query.
const maxIDsPerQuery = 100

// watch registers a waiter for a workflow: the channel receives when
// visibility lists it FAILED (it may be stale: check before trusting it).
// stop unregisters.
func (w *failedWatch) watch(workflowID string) (failed <-chan struct{}, stop func()) {
	ch := make(chan struct{}, 1)
	w.mu.Lock()
	if w.waiting == nil {
		w.waiting = map[string]map[chan struct{}]bool{}
	}
	if w.waiting[workflowID] == nil {
		w.waiting[workflowID] = map[chan struct{}]bool{}
	}
	w.waiting[workflowID][ch] = true
	if !w.running {
		w.running = true
		go w.loop()
	}
	w.mu.Unlock()
	return ch, func() {
		w.mu.Lock()
		defer w.mu.Unlock()
		delete(w.waiting[workflowID], ch)
		if len(w.waiting[workflowID]) == 0 {
			delete(w.waiting, workflowID)
		}
	}
}

func (w *failedWatch) loop() {
	t := time.NewTicker(w.interval)
	defer t.Stop()
	for range t.C {
		ids := w.awaited()
		if ids == nil {
			return
		}
		for start := 0; start < len(ids); start += maxIDsPerQuery {
			failed, err := w.failed(ids[start:min(start+maxIDsPerQuery, len(ids))])
			if err == nil {
				w.notify(failed)
			}
		}
	}
}

// awaited returns the awaited workflow IDs, or nil, having stopped the
// loop, when nobody waits.
func (w *failedWatch) awaited() []string {
	w.mu.Lock()
	defer w.mu.Unlock()
	if len(w.waiting) == 0 {
		w.running = false
		return nil
	}
	ids := make([]string, 0, len(w.waiting))
	for id := range w.waiting {
		ids = append(ids, id)
	}
	return ids
}

// failed asks visibility which of the workflows are running FAILED.
func (w *failedWatch) failed(ids []string) ([]string, error) {
	quoted := make([]string, len(ids))
	for i, id := range ids {
		quoted[i] = "'" + id + "'" // order IDs hold no quotes (shop.ValidOrderID)
	}
	query := fmt.Sprintf("ExecutionStatus = 'Running' AND %s AND WorkflowId IN (%s)",
		StatusQuery(shop.StatusFailed), strings.Join(quoted, ", "))
	ctx, cancel := context.WithTimeout(context.Background(), w.interval+5*time.Second)
	defer cancel()
	var out []string
	var token []byte
	for {
		resp, err := w.client.ListWorkflow(ctx, &workflowservice.ListWorkflowExecutionsRequest{Query: query, NextPageToken: token})
		if err != nil {
			return nil, err
		}
		for _, ex := range resp.GetExecutions() {
			out = append(out, ex.GetExecution().GetWorkflowId())
		}
		if token = resp.GetNextPageToken(); len(token) == 0 {
			return out, nil
		}
	}
}

func (w *failedWatch) notify(workflowIDs []string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	for _, id := range workflowIDs {
		for ch := range w.waiting[id] {
			select {
			case ch <- struct{}{}:
			default:
			}
		}
	}
}
