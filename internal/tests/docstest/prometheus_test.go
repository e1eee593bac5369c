package docstest

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"testing"
)

func TestTargetsDown(t *testing.T) {
	const page = `{"status":"success","data":{"activeTargets":[
{"scrapePool":"ordersaga","scrapeUrl":"http://127.0.0.1:9464/metrics","health":"up","lastError":""},
{"scrapePool":"temporal","scrapeUrl":"http://127.0.0.1:9480/metrics","health":"%s","lastError":"%s"}]}}`
	for _, c := range []struct {
		health, lastError string
		jobs              []string
		want              string
	}{
		{"up", "", []string{"ordersaga", "temporal"}, ""},
		{"down", "connection refused", []string{"temporal"}, "temporal http://127.0.0.1:9480/metrics: down connection refused"},
		{"unknown", "", nil, "temporal http://127.0.0.1:9480/metrics: unknown"},
		{"up", "", []string{"temporal", "redis"}, "job redis: no target"},
	} {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.URL.Path != "/api/v1/targets" {
				http.NotFound(w, r)
				return
			}
			_, _ = fmt.Fprintf(w, page, c.health, c.lastError)
		}))
		got, err := TargetsDown(context.Background(), srv.URL, c.jobs)
		srv.Close()
		if err != nil || got != c.want {
			t.Errorf("health %s, jobs %v: got %q, %v; want %q", c.health, c.jobs, got, err, c.want)
		}
	}
	if _, err := TargetsDown(context.Background(), "http://127.0.0.1:1", nil); err == nil {
		t.Error("no Prometheus answered, and no error")
	}
}

func TestNotOne(t *testing.T) {
	for _, c := range []struct{ result, want string }{
		{`[{"metric":{"instance":"a"},"value":[1,"1"]}]`, ""},
		{`[{"metric":{"instance":"a"},"value":[1,"0"]}]`, `redis_up map[instance:a] = [1 0]`},
		{`[]`, "redis_up: no series"},
	} {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.URL.Path != "/api/v1/query" || r.URL.Query().Get("query") != "redis_up" {
				http.NotFound(w, r)
				return
			}
			_, _ = fmt.Fprintf(w, `{"status":"success","data":{"resultType":"vector","result":%s}}`, c.result)
		}))
		got, err := NotOne(context.Background(), srv.URL, "redis_up")
		srv.Close()
		if err != nil || got != c.want {
			t.Errorf("result %s: got %q, %v; want %q", c.result, got, err, c.want)
		}
	}
}
