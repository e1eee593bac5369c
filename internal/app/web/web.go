// Package web serves the live page of `starter serve`: both engines side by
// side, updated once a second over server-sent events, with a form that
// places an order on both, and each order's two timelines.
//
// One refresh loop reads the engines while some page listens, renders the
// live sections once and hands the same bytes to every listener, so the cost
// of the page does not grow with the number of open tabs. The first paint is
// rendered on the server and the form posts normally, so the basics work
// without JavaScript; the script only swaps in fresh sections and submits
// the form without leaving the page.
package web

import (
	"context"
	"embed"
	"errors"
	"fmt"
	"html/template"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/ordersaga/ordersaga/shop"
)

//go:embed assets
var assets embed.FS

// Options configure a Server.
type Options struct {
	// Engines are shown in this order, side by side.
	Engines []View
	// Bus is the choreography's plumbing; nil leaves its section out.
	Bus     Bus
	Catalog shop.Catalog
	// WorkflowURL links an order to its workflow in the Temporal Web UI;
	// nil shows no link.
	WorkflowURL func(orderID string) string
	// Interval is how often the live sections refresh (default 1s).
	Interval time.Duration
	// Recent is how many of the latest orders the page lists (default 20).
	Recent int
	// RefreshTimeout bounds one refresh's reads (default 2s): an engine
	// that does not answer in time shows that, and the others still show.
	RefreshTimeout time.Duration
	// ReadTimeout bounds one order page's reads and one placement (default 5s).
	ReadTimeout time.Duration
	// MaxListeners bounds the live connections served at once (default 64).
	MaxListeners int
	// AllowedHosts are host names the page answers to besides localhost
	// names, loopback addresses and the address it listens on.
	AllowedHosts []string
	Log          *slog.Logger
}

func (o *Options) defaults() {
	if o.Interval <= 0 {
		o.Interval = time.Second
	}
	if o.Recent <= 0 {
		o.Recent = 20
	}
	if o.RefreshTimeout <= 0 {
		o.RefreshTimeout = 2 * time.Second
	}
	if o.ReadTimeout <= 0 {
		o.ReadTimeout = 5 * time.Second
	}
	if o.MaxListeners <= 0 {
		o.MaxListeners = 64
	}
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
}

// Server is the live page.
type Server struct {
	opts    Options
	modes   []shop.Mode
	catalog []product
	tmpl    *template.Template
	hub     *hub
	static  http.Handler
}

// product is one catalog line as the page shows it.
type product struct {
	SKU        string
	Name       string
	PriceCents int64
	Initial    int64
}

// New returns the page over the given engines.
func New(opts Options) (*Server, error) {
	opts.defaults()
	if len(opts.Engines) == 0 {
		return nil, errors.New("web: no engine to show")
	}
	if len(opts.Catalog) == 0 {
		return nil, errors.New("web: empty catalog")
	}
	tmpl, err := parseTemplates(opts.WorkflowURL)
	if err != nil {
		return nil, err
	}
	static, err := fs.Sub(assets, "assets/static")
	if err != nil {
		return nil, fmt.Errorf("web: assets: %w", err)
	}
	s := &Server{opts: opts, tmpl: tmpl, static: http.StripPrefix("/assets/", http.FileServerFS(static))}
	for _, e := range opts.Engines {
		s.modes = append(s.modes, e.Mode())
	}
	for _, sku := range opts.Catalog.SKUs() {
		p := opts.Catalog[sku]
		s.catalog = append(s.catalog, product{SKU: sku, Name: p.Name, PriceCents: p.PriceCents, Initial: p.InitialStock})
	}
	s.hub = newHub(s)
	return s, nil
}

// Handler returns the page's routes. The live sections refresh only while
// Run is running. It answers to localhost names, loopback addresses and
// Options.AllowedHosts; Serve adds the address it listens on.
func (s *Server) Handler() http.Handler { return s.handler(nil) }

func (s *Server) handler(listen net.Addr) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", s.index)
	mux.HandleFunc("GET /events", s.events)
	mux.HandleFunc("GET /orders/{id}", s.order)
	mux.HandleFunc("POST /orders", s.place)
	mux.Handle("GET /assets/", s.static)
	// Placing an order is a state change: refuse it from another site's page.
	// The Host check comes first: a page on another name that resolves to
	// this server (DNS rebinding) sends its own name as Host and Origin,
	// which the cross-origin check takes for the same origin.
	return newHostCheck(listen, s.opts.AllowedHosts).wrap(secure(http.NewCrossOriginProtection().Handler(mux)))
}

// secure sets the headers every response carries: nothing is loaded from
// anywhere but this server, and no other site may frame the page.
func secure(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Security-Policy", "default-src 'self'; frame-ancestors 'none'; form-action 'self'; base-uri 'none'")
		w.Header().Set("X-Content-Type-Options", "nosniff")
		w.Header().Set("Referrer-Policy", "same-origin")
		h.ServeHTTP(w, r)
	})
}

// Run runs the refresh loop until ctx is done, then ends every live
// connection.
func (s *Server) Run(ctx context.Context) { s.hub.run(ctx) }

// ListenAndServe listens on addr (HOST:PORT) and serves the page there as
// Serve does; ready is told the address listened on before anything is
// served. A busy port is an error before anything serves.
func (s *Server) ListenAndServe(ctx context.Context, addr string, ready func(net.Addr)) error {
	var lc net.ListenConfig
	l, err := lc.Listen(ctx, "tcp", addr)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", addr, err)
	}
	ready(l.Addr())
	return s.Serve(ctx, l)
}

// Serve serves the page on l until ctx is done, then shuts down gracefully.
func (s *Server) Serve(ctx context.Context, l net.Listener) error {
	srv := &http.Server{
		Handler:           s.handler(l.Addr()),
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       30 * time.Second,
		IdleTimeout:       2 * time.Minute,
		ErrorLog:          slog.NewLogLogger(s.opts.Log.Handler(), slog.LevelWarn),
	}
	loop, stopLoop := context.WithCancel(ctx)
	defer stopLoop()
	looped := make(chan struct{})
	go func() { defer close(looped); s.Run(loop) }()
	served := make(chan error, 1)
	go func() { served <- srv.Serve(l) }()
	select {
	case err := <-served:
		stopLoop()
		<-looped
		return fmt.Errorf("serve: %w", err)
	case <-ctx.Done():
	}
	// Ending the loop ends the live connections, so Shutdown does not wait
	// for them.
	stopLoop()
	<-looped
	sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		return fmt.Errorf("shut down: %w", err)
	}
	return nil
}
