package main

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/ordersaga/ordersaga/choreography"
)

// A dead letter made from a real OrderPlaced event: dlq list shows it, a
// redrive puts it back on its stream, the inventory service finds the work
// done and only acks it, and the dead-letter stream is empty again.
func TestDLQListAndRedrive(t *testing.T) {
	s := servers(t)
	ctx := context.Background()
	s.must(t, "stock", "--reset", "--mode", "choreography") // earlier tests leave FAILED orders
	id := newID("dlq")
	s.must(t, "order", "--mode", "choreography", "--id", id)

	bus := choreography.NewBus(s.rdb)
	hist, err := s.rdb.LRange(ctx, bus.HistoryKey(id), 0, 0).Result()
	if err != nil || len(hist) != 1 {
		t.Fatalf("history of %s: %v %v", id, hist, err)
	}
	dlID, err := s.rdb.XAdd(ctx, &redis.XAddArgs{Stream: bus.DeadLetterStreamFor(id), Values: []any{
		"stream", bus.StreamFor(id, choreography.ServiceOrder), "group", choreography.ServiceInventory, "id", "1-1",
		"reason", "inventory database was down", "deliveries", "30", "time", time.Now().UTC().Format(time.RFC3339Nano),
		"type", "OrderPlaced", "event", hist[0],
	}}).Result()
	if err != nil {
		t.Fatal(err)
	}

	listed := choreography.DeadLetterID(bus.Layout().Partition(id), dlID) // the partition names it among all

	var list struct {
		Total   int64 `json:"total"`
		Entries []struct {
			ID, Stream, Group, Reason, Type string
			Deliveries                      int64
		} `json:"entries"`
	}
	decodeOne(t, s.must(t, "dlq", "list", "--json"), &list)
	if list.Total != 1 || len(list.Entries) != 1 || list.Entries[0].ID != listed || list.Entries[0].Reason != "inventory database was down" ||
		list.Entries[0].Group != choreography.ServiceInventory || list.Entries[0].Deliveries != 30 || list.Entries[0].Type != "OrderPlaced" {
		t.Fatalf("dlq list: %+v", list)
	}
	if out := s.must(t, "dlq", "list").stdout; !strings.Contains(out, listed) || !strings.Contains(out, "inventory database was down") {
		t.Fatalf("dlq list text:\n%s", out)
	}
	r := s.run(t, "verify", "--mode", "choreography")
	wantCode(t, r, 1)
	if !strings.Contains(r.stdout, "dead-letter stream holds 1") {
		t.Fatalf("verify does not report the dead letter:\n%s", r)
	}

	wantCode(t, s.run(t, "dlq", "redrive", "not-an-id"), 2)
	wantCode(t, s.run(t, "dlq", "redrive", "q1:1-1"), 2)
	wantOneLine(t, s.run(t, "dlq", "redrive", "1-1"), "no dead letter 1-1")
	wantCode(t, s.run(t, "dlq", "shuffle"), 2)
	wantCode(t, s.run(t, "dlq"), 2)

	out := s.must(t, "dlq", "redrive", listed).stdout
	if !strings.Contains(out, "1 entries redriven") {
		t.Fatalf("redrive:\n%s", out)
	}
	eventually(t, 10*time.Second, func() (bool, string) {
		r := s.run(t, "verify", "--mode", "choreography", "--json")
		return r.code == 0, r.String()
	})
	decodeOne(t, s.must(t, "dlq", "list", "--json"), &list)
	if list.Total != 0 {
		t.Fatalf("dead-letter stream after redrive: %+v", list)
	}
	// The redriven event changed nothing: one reservation, one charge.
	st := s.must(t, "status", id, "--mode", "choreography").stdout
	if !strings.Contains(st, "COMPLETED") {
		t.Fatalf("status after redrive:\n%s", st)
	}
}
