package main

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"go.opentelemetry.io/otel"
)

// TestTelemetryWarningInLogFormat: with OTEL_EXPORTER_OTLP_ENDPOINT set, a
// failed export is logged on the starter's stderr in --log-format, not by
// the standard logger as "2006/01/02 15:04:05 WARN …".
func TestTelemetryWarningInLogFormat(t *testing.T) {
	t.Setenv("OTEL_EXPORTER_OTLP_ENDPOINT", "http://127.0.0.1:1")
	var stderr strings.Builder
	t.Cleanup(func() { otel.SetErrorHandler(otel.ErrorHandlerFunc(func(error) {})) })
	code := run(t.Context(), []string{"--log-format", "json", "--redis-url", "redis://127.0.0.1:1/0", "--redis-cluster-url=",
		"verify", "--mode", "choreography"}, &strings.Builder{}, &stderr)
	if code != 1 {
		t.Fatalf("verify without Redis: exit %d, want 1\n%s", code, stderr.String())
	}
	stderr.Reset()
	// The run's handler stays installed, as it does while a run exports.
	otel.Handle(errors.New("export to 127.0.0.1:1 refused"))
	var line struct{ Level, Msg, Err string }
	if err := json.Unmarshal([]byte(stderr.String()), &line); err != nil || line.Level != "WARN" ||
		line.Msg != "telemetry export failed" || !strings.Contains(line.Err, "refused") {
		t.Fatalf("the export warning is not one JSON line (%v): %q", err, stderr.String())
	}
}
