package main

import (
	"bytes"
	"context"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/ordersaga/ordersaga/internal/app/cli"
)

// TestTemporalFlags: the worker takes the temporal CLI's connection flags
// and variables, and the old --temporal-address.
func TestTemporalFlags(t *testing.T) {
	t.Setenv("TEMPORAL_CONFIG_FILE", t.TempDir()+"/absent.toml")
	t.Setenv("TEMPORAL_ADDRESS", "env:7233")
	t.Setenv("TEMPORAL_NAMESPACE", "env-ns")
	o, err := parse(nil)
	if err != nil || o.cfg.TemporalAddress != "env:7233" || o.cfg.Namespace != "env-ns" {
		t.Fatalf("from the environment: %+v %v", o, err)
	}
	for _, args := range [][]string{
		{"--address", "flag:7233", "-n", "flag-ns"},
		{"--temporal-address", "flag:7233", "--namespace", "flag-ns"},
		{"-address", "flag:7233", "-namespace", "flag-ns"},
	} {
		o, err := parse(append(args, "--api-key", "key-0123456", "--tls", "--tls-server-name", "s.test", "--client-connect-timeout", "2s"))
		if err != nil {
			t.Fatalf("%v: %v", args, err)
		}
		opts, err := o.cfg.TemporalOptions(nil)
		if err != nil {
			t.Fatal(err)
		}
		if opts.HostPort != "flag:7233" || opts.Namespace != "flag-ns" || opts.Credentials == nil ||
			opts.ConnectionOptions.TLS == nil || opts.ConnectionOptions.TLS.ServerName != "s.test" || o.cfg.ConnectTimeout != 2*time.Second {
			t.Errorf("%v: HostPort %q Namespace %q credentials %v TLS %v timeout %s", args, opts.HostPort, opts.Namespace,
				opts.Credentials != nil, opts.ConnectionOptions.TLS, o.cfg.ConnectTimeout)
		}
	}
	if _, err := parse([]string{"--client-connect-timeout", "0s"}); !errors.Is(err, errUsage) {
		t.Errorf("a zero connect timeout: %v, want a usage error", err)
	}
}

// TestHealthcheckCommand: the forms docker-compose.yml uses, with one dash
// too, against a server whose / answers and /readyz does not.
func TestHealthcheckCommand(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/" {
			w.WriteHeader(http.StatusServiceUnavailable)
		}
	}))
	defer srv.Close()
	addr := strings.TrimPrefix(srv.URL, "http://")
	ctx := context.Background()
	for _, args := range [][]string{{"--addr", addr, "--path", "/"}, {"-addr", addr, "-path", "/", "-timeout", "2s"}} {
		if err := healthcheck(ctx, args); err != nil {
			t.Errorf("healthcheck %v: %v", args, err)
		}
	}
	t.Setenv(EnvMetricsAddr, addr)
	if err := healthcheck(ctx, nil); err == nil || errors.Is(err, errUsage) {
		t.Errorf("healthcheck of a server not ready: %v, want it to fail (exit 1)", err)
	}
	if err := healthcheck(ctx, []string{"stray"}); !errors.Is(err, errUsage) {
		t.Errorf("healthcheck stray: %v, want a usage error", err)
	}
}

// TestWorkerHelpAndCompletion: help in the starter's layout with the exit
// statuses, completion scripts, and exit statuses 0, 1 and 2.
func TestWorkerHelpAndCompletion(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want []string
	}{
		{[]string{"--help"}, []string{"Usage: worker [flags]", "healthcheck", "--address", "-n, --namespace", "--tls-ca-path", "--services", "Exit status:\n  0  "}},
		{[]string{"healthcheck", "--help"}, []string{"Usage: worker healthcheck", "--addr", "--live", "--path", "--timeout", "Exit status:\n  0  the server answered 200"}},
		{[]string{"completion", "bash"}, []string{"complete -o default"}},
		{[]string{"__complete", "--serv"}, []string{"--services"}},
	} {
		var out bytes.Buffer
		if err := execute(context.Background(), tc.args, &out, nil); err != nil {
			t.Fatalf("%v: %v", tc.args, err)
		}
		for _, w := range tc.want {
			if !strings.Contains(out.String(), w) {
				t.Fatalf("%v: want %q:\n%.2000s", tc.args, w, out.String())
			}
		}
		if strings.Contains(out.String(), "temporal-address") {
			t.Fatalf("%v: the old --temporal-address is shown", tc.args)
		}
	}
	var stderr bytes.Buffer
	_, err := parse([]string{"--nope"})
	if code := exitStatus(err, &stderr); code != cli.ExitUsage || !strings.HasPrefix(stderr.String(), "worker: unknown flag: --nope") {
		t.Errorf("--nope: exit %d %q, want 2 and one line", code, stderr.String())
	}
	if code := exitStatus(errors.New("boom"), &stderr); code != cli.ExitError {
		t.Errorf("an error: exit %d, want 1", code)
	}
}

// A metrics address whose port is taken is an error of the run (exit 1,
// one line naming the address), not a usage error (exit 2).
func TestBusyMetricsPortIsNoUsageError(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	err = run(context.Background(), []string{"--services", "payment", "--metrics-addr", l.Addr().String()})
	var out strings.Builder
	if code := exitStatus(err, &out); code != 1 || errors.Is(err, errUsage) {
		t.Fatalf("busy metrics port: exit %d (%v), want 1 and no usage error", code, err)
	}
	if !strings.Contains(out.String(), l.Addr().String()) || strings.Count(strings.TrimSpace(out.String()), "\n") != 0 {
		t.Errorf("want one line naming %s, got %q", l.Addr(), out.String())
	}
}
