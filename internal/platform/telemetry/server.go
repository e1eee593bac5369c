package telemetry

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/pprof"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/ordersaga/ordersaga/shop"
)

// readyTimeout bounds the checks of one /readyz request.
const readyTimeout = 3 * time.Second

// Health answers /healthz (the process is alive) and /readyz (it is
// connected and doing its work): every check passes, after Started.
type Health struct {
	mu      sync.Mutex
	checks  map[string]func(context.Context) error
	started bool
}

// NewHealth returns a Health that is not ready until Started.
func NewHealth() *Health { return &Health{checks: map[string]func(context.Context) error{}} }

// Add adds (or replaces) a named readiness check. It must answer within
// the context's deadline.
func (h *Health) Add(name string, check func(context.Context) error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.checks[name] = check
}

// Started says that everything the process runs has started.
func (h *Health) Started() {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.started = true
}

// Ready runs every check at once and returns what fails, one line each,
// sorted; none when the process is ready.
func (h *Health) Ready(ctx context.Context) []string {
	h.mu.Lock()
	started := h.started
	checks := make(map[string]func(context.Context) error, len(h.checks))
	for n, c := range h.checks {
		checks[n] = c
	}
	h.mu.Unlock()
	if !started {
		return []string{"starting"}
	}
	ctx, cancel := context.WithTimeout(ctx, readyTimeout)
	defer cancel()
	var (
		mu       sync.Mutex
		wg       sync.WaitGroup
		failures []string
	)
	for name, check := range checks {
		wg.Go(func() {
			if err := check(ctx); err != nil {
				mu.Lock()
				failures = append(failures, name+": "+shop.OneLine(err))
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	slices.Sort(failures)
	return failures
}

// ServeOption adds to what a Server serves.
type ServeOption func(*http.ServeMux)

// WithProfiling also serves Go's runtime profiles under /debug/pprof/
// (CPU, heap, goroutines, ...), for measuring where a process spends its
// time. Off unless asked for: a profile tells a lot about a process.
func WithProfiling() ServeOption {
	return func(mux *http.ServeMux) {
		mux.HandleFunc("GET /debug/pprof/", pprof.Index)
		mux.HandleFunc("GET /debug/pprof/cmdline", pprof.Cmdline)
		mux.HandleFunc("GET /debug/pprof/profile", pprof.Profile)
		mux.HandleFunc("GET /debug/pprof/symbol", pprof.Symbol)
		mux.HandleFunc("GET /debug/pprof/trace", pprof.Trace)
	}
}

// Handler serves /metrics from g (when not nil), /healthz and /readyz, and
// whatever opts add.
func Handler(g prometheus.Gatherer, h *Health, opts ...ServeOption) http.Handler {
	mux := http.NewServeMux()
	for _, opt := range opts {
		opt(mux)
	}
	if g != nil {
		mux.Handle("GET /metrics", promhttp.HandlerFor(g, promhttp.HandlerOpts{}))
	}
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		fmt.Fprintln(w, "ok")
	})
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		if failures := h.Ready(r.Context()); len(failures) > 0 {
			w.WriteHeader(http.StatusServiceUnavailable)
			fmt.Fprintf(w, "not ready\n%s\n", strings.Join(failures, "\n"))
			return
		}
		fmt.Fprintln(w, "ready")
	})
	return mux
}

// Server serves Handler on one address.
type Server struct {
	srv  *http.Server
	ln   net.Listener
	done chan error
}

// Listen binds addr (HOST:PORT) at once, so that a bad or busy address
// fails before anything starts, and serves Handler in the background.
func Listen(addr string, g prometheus.Gatherer, h *Health, opts ...ServeOption) (*Server, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("metrics address %s: %w", addr, err)
	}
	s := &Server{
		srv:  &http.Server{Handler: Handler(g, h, opts...), ReadHeaderTimeout: 5 * time.Second},
		ln:   ln,
		done: make(chan error, 1),
	}
	go func() {
		err := s.srv.Serve(ln)
		if errors.Is(err, http.ErrServerClosed) {
			err = nil
		}
		s.done <- err
	}()
	return s, nil
}

// Addr is the address the server listens on (with the port it got for ":0").
func (s *Server) Addr() string { return s.ln.Addr().String() }

// Close stops the server, letting requests in flight finish for up to a second.
func (s *Server) Close() error {
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	err := s.srv.Shutdown(ctx)
	if errors.Is(err, context.DeadlineExceeded) {
		err = s.srv.Close()
	}
	return errors.Join(err, <-s.done)
}
