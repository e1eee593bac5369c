package web

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"mime"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/ordersaga/ordersaga/shop"
)

// index is the page: the engines, the order form, the latest orders, the
// books and the choreography's services.
func (s *Server) index(w http.ResponseWriter, r *http.Request) {
	f := formState{Items: shop.DefaultSKU + ":1"}
	if id := r.URL.Query().Get("placed"); shop.ValidOrderID(id) {
		f.Placed = id
	}
	s.renderIndex(w, r, http.StatusOK, f)
}

func (s *Server) renderIndex(w http.ResponseWriter, r *http.Request, code int, f formState) {
	snap := s.hub.current(r.Context()).snap
	s.render(w, code, "index", s.view(snap, f))
}

// render executes a template into a buffer first, so a failure is a clean
// error response rather than half a page.
func (s *Server) render(w http.ResponseWriter, code int, name string, data any) {
	var buf bytes.Buffer
	if err := s.tmpl.ExecuteTemplate(&buf, name, data); err != nil {
		s.opts.Log.Error("render page", "template", name, "err", err)
		http.Error(w, "could not render the page", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(code)
	_, _ = w.Write(buf.Bytes())
}

// maxForm bounds the order form's body.
const maxForm = 16 << 10

// place places one order on every engine, from the form: items and faults
// in the syntax of `starter order --item/--fail`. Everything is checked
// before the first engine is asked to place it. A script asks for JSON and
// stays on the page; a plain form post is redirected back to it.
func (s *Server) place(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, maxForm)
	if err := readForm(r); err != nil {
		s.placeFailed(w, r, http.StatusBadRequest, formState{}, err)
		return
	}
	f := formState{Items: r.PostFormValue("items"), Faults: r.PostFormValue("faults")}
	o, err := s.parseOrder(f.Items, f.Faults, r.PostFormValue("decline"))
	if err != nil {
		s.placeFailed(w, r, http.StatusBadRequest, f, err)
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), s.opts.ReadTimeout)
	defer cancel()
	err = s.placeEverywhere(ctx, o)
	// Placed or not, something may have changed: the next view reads afresh.
	s.hub.invalidate()
	if err != nil {
		s.placeFailed(w, r, http.StatusServiceUnavailable, f, err)
		return
	}
	s.opts.Log.Info("order placed", "order", o.ID, "items", f.Items, "faults", len(o.Faults))
	if wantsJSON(r) {
		writeJSON(w, http.StatusOK, map[string]string{"order_id": o.ID, "url": orderPath(o.ID)})
		return
	}
	http.Redirect(w, r, "/?placed="+url.QueryEscape(o.ID)+"#orders", http.StatusSeeOther)
}

// readForm parses the order form and refuses anything else: a body that
// is not a URL-encoded form, or a form without any of its fields (an empty
// post, a JSON body, a form of other fields) places nothing rather than a
// default order.
func readForm(r *http.Request) error {
	ct, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err != nil || ct != "application/x-www-form-urlencoded" {
		return errors.New("unreadable form: want a body of type application/x-www-form-urlencoded")
	}
	if err := r.ParseForm(); err != nil {
		return fmt.Errorf("unreadable form: %w", err)
	}
	for _, field := range []string{"items", "faults", "decline"} {
		if _, ok := r.PostForm[field]; ok {
			return nil
		}
	}
	return errors.New("unreadable form: none of items, faults, decline")
}

// wantsJSON reports whether the request asks for JSON (a script) rather
// than a page.
func wantsJSON(r *http.Request) bool {
	return strings.Contains(r.Header.Get("Accept"), "application/json")
}

// placeFailed answers a placement that failed with err: JSON with the
// error, or the page with the form as it was sent and the error.
func (s *Server) placeFailed(w http.ResponseWriter, r *http.Request, code int, f formState, err error) {
	f.Error = shop.OneLine(err)
	if wantsJSON(r) {
		writeJSON(w, code, map[string]string{"error": f.Error})
		return
	}
	s.renderIndex(w, r, code, f)
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(v)
}

// parseOrder reads the form's fields: items and faults separated by spaces
// or commas; decline names a step to decline on top of the faults.
func (s *Server) parseOrder(items, faults, decline string) (shop.Order, error) {
	fails := fields(faults)
	if decline != "" {
		fails = append(fails, decline+":decline")
	}
	return shop.ParseOrder("", "web", fields(items), fails, s.opts.Catalog)
}

func fields(s string) []string {
	return strings.FieldsFunc(s, func(r rune) bool { return r == ',' || r == ';' || r == ' ' || r == '\t' || r == '\n' || r == '\r' })
}

// placeEverywhere places the order on every engine once each engine has
// answered that it does not know the ID: an unreachable engine stops the
// order before anything is placed.
func (s *Server) placeEverywhere(ctx context.Context, o shop.Order) error {
	for _, e := range s.opts.Engines {
		_, err := e.Status(ctx, o.ID)
		if err == nil {
			return fmt.Errorf("order %s already exists on %s", o.ID, e.Mode())
		}
		if !errors.Is(err, shop.ErrUnknownOrder) {
			return fmt.Errorf("nothing placed: %s: %w", e.Mode(), err)
		}
	}
	var placed []string
	for _, e := range s.opts.Engines {
		if err := e.Place(ctx, o); err != nil {
			if len(placed) == 0 {
				return fmt.Errorf("nothing placed: %s: %w", e.Mode(), err)
			}
			return fmt.Errorf("order %s placed on %s only: %s: %w", o.ID, strings.Join(placed, ", "), e.Mode(), err)
		}
		placed = append(placed, string(e.Mode()))
	}
	return nil
}

func orderPath(id string) string { return "/orders/" + url.PathEscape(id) }

// orderView is an order on every engine: its progress and its timeline.
type orderView struct {
	ID       string
	Columns  []orderColumn
	Terminal bool
}

type orderColumn struct {
	Mode     shop.Mode
	Found    bool
	Err      string
	Progress shop.Progress
	Timeline []timelineRow
}

// order shows one order's status and timeline on every engine, side by
// side. With ?part=body it returns only the part a script refreshes while
// the order runs.
func (s *Server) order(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	if !shop.ValidOrderID(id) {
		s.render(w, http.StatusBadRequest, "notfound", map[string]string{"ID": id, "Why": "is not an order ID"})
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), s.opts.ReadTimeout)
	defer cancel()
	v := orderView{ID: id, Columns: make([]orderColumn, len(s.opts.Engines)), Terminal: true}
	var wg sync.WaitGroup
	for i, e := range s.opts.Engines {
		wg.Go(func() { v.Columns[i] = readOrder(ctx, e, id) })
	}
	wg.Wait()
	found := false
	for _, c := range v.Columns {
		found = found || c.Found
		if c.Err != "" || (c.Found && !c.Progress.Status.Terminal()) {
			v.Terminal = false
		}
	}
	if !found && v.Terminal {
		s.render(w, http.StatusNotFound, "notfound", map[string]string{"ID": id, "Why": "is not known to any engine"})
		return
	}
	name := "order"
	if r.URL.Query().Get("part") == "body" {
		name = "orderbody"
	}
	s.render(w, http.StatusOK, name, v)
}

// statusWait bounds the wait for an order's status: a running workflow
// answers it through a worker, which may be down.
const statusWait = 2 * time.Second

// readOrder reads one order's progress and timeline on one engine. When
// the status does not come in time, the timeline still shows, with why.
func readOrder(ctx context.Context, e View, id string) orderColumn {
	c := orderColumn{Mode: e.Mode()}
	sctx, cancel := context.WithTimeout(ctx, statusWait)
	p, err := e.Status(sctx, id)
	cancel()
	switch {
	case errors.Is(err, shop.ErrUnknownOrder):
		return c
	case errors.Is(err, context.DeadlineExceeded) && ctx.Err() == nil:
		c.Err = fmt.Sprintf("no status within %s: is the %s worker running?", statusWait, e.Mode())
		p = shop.Progress{Outcome: shop.Outcome{OrderID: id, Status: shop.StatusPending}}
	case err != nil:
		c.Err = shop.OneLine(err)
		return c
	}
	c.Found, c.Progress = true, p
	evs, err := e.History(ctx, id)
	if err != nil && !errors.Is(err, shop.ErrUnknownOrder) {
		c.Err = shop.OneLine(err)
	}
	c.Timeline = timeline(evs)
	return c
}
