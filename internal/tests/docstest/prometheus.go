package docstest

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
)

// TargetsDown asks the Prometheus at baseURL for its active targets
// (/api/v1/targets) and describes what is wrong: a target whose health is
// not "up", or a job of jobs that has no target. It returns "" when every
// target is up and every job is there, and an error when Prometheus does
// not answer.
func TargetsDown(ctx context.Context, baseURL string, jobs []string) (string, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, baseURL+"/api/v1/targets?state=active", nil)
	if err != nil {
		return "", fmt.Errorf("prometheus targets: %w", err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return "", fmt.Errorf("prometheus targets: %w", err)
	}
	defer func() { _ = resp.Body.Close() }()
	var body struct {
		Status string
		Data   struct {
			ActiveTargets []struct {
				ScrapePool string `json:"scrapePool"`
				ScrapeURL  string `json:"scrapeUrl"`
				Health     string `json:"health"`
				LastError  string `json:"lastError"`
			} `json:"activeTargets"`
		}
	}
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil || body.Status != "success" {
		return "", fmt.Errorf("prometheus targets: %s, status %q: %v", resp.Status, body.Status, err)
	}
	var wrong []string
	seen := map[string]bool{}
	for _, tg := range body.Data.ActiveTargets {
		seen[tg.ScrapePool] = true
		if tg.Health != "up" {
			wrong = append(wrong, strings.TrimSpace(fmt.Sprintf("%s %s: %s %s", tg.ScrapePool, tg.ScrapeURL, tg.Health, tg.LastError)))
		}
	}
	for _, j := range jobs {
		if !seen[j] {
			wrong = append(wrong, "job "+j+": no target")
		}
	}
	slices.Sort(wrong)
	return strings.Join(wrong, "\n"), nil
}

// NotOne asks the Prometheus at baseURL for query (/api/v1/query) and
// describes each series whose value is not 1, or says that there is no
// series; "" when every series is 1. It checks what a target being up does
// not say, e.g. redis_up: the exporter answers its scrape even when it
// cannot log in to Redis.
func NotOne(ctx context.Context, baseURL, query string) (string, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, baseURL+"/api/v1/query?query="+url.QueryEscape(query), nil)
	if err != nil {
		return "", fmt.Errorf("prometheus query %s: %w", query, err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return "", fmt.Errorf("prometheus query %s: %w", query, err)
	}
	defer func() { _ = resp.Body.Close() }()
	var body struct {
		Status string
		Data   struct {
			Result []struct {
				Metric map[string]string `json:"metric"`
				Value  []any             `json:"value"`
			} `json:"result"`
		}
	}
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil || body.Status != "success" {
		return "", fmt.Errorf("prometheus query %s: %s, status %q: %v", query, resp.Status, body.Status, err)
	}
	if len(body.Data.Result) == 0 {
		return query + ": no series", nil
	}
	var wrong []string
	for _, r := range body.Data.Result {
		if len(r.Value) != 2 || r.Value[1] != "1" {
			wrong = append(wrong, fmt.Sprintf("%s %v = %v", query, r.Metric, r.Value))
		}
	}
	slices.Sort(wrong)
	return strings.Join(wrong, "\n"), nil
}
