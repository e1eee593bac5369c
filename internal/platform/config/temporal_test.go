package config

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/spf13/pflag"
	"go.temporal.io/sdk/client"
)

// tlsFiles writes a certificate, its key and a CA for the TLS flags.
func tlsFiles(t *testing.T) (cert, key, ca string) {
	t.Helper()
	dir := t.TempDir()
	c, ca := selfSigned(t, dir, "frontend.test")
	cert = filepath.Join(dir, "client.pem")
	if err := os.WriteFile(cert, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.Certificate[0]}), 0o600); err != nil {
		t.Fatal(err)
	}
	der, err := x509.MarshalPKCS8PrivateKey(c.PrivateKey)
	if err != nil {
		t.Fatal(err)
	}
	key = filepath.Join(dir, "client.key")
	if err := os.WriteFile(key, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	return cert, key, ca
}

// resolve parses args as the commands do, resolves and returns the client
// options.
func resolve(t *testing.T, args ...string) (*Config, client.Options) {
	t.Helper()
	c := FromEnv()
	fs := pflag.NewFlagSet("x", pflag.ContinueOnError)
	c.TemporalFlags(fs)
	if err := fs.Parse(args); err != nil {
		t.Fatalf("%v: %v", args, err)
	}
	c.Resolve()
	opts, err := c.TemporalOptions(nil)
	if err != nil {
		t.Fatalf("%v: %v", args, err)
	}
	return c, opts
}

// temporalCase is one command line and environment, and what the client
// options must then be.
type temporalCase struct {
	name string
	env  map[string]string
	args []string
	want func(t *testing.T, c *Config, o client.Options)
}

func wantAddress(a string) func(*testing.T, *Config, client.Options) {
	return func(t *testing.T, _ *Config, o client.Options) {
		if o.HostPort != a {
			t.Errorf("HostPort %q, want %q", o.HostPort, a)
		}
	}
}

func wantNamespace(n string) func(*testing.T, *Config, client.Options) {
	return func(t *testing.T, _ *Config, o client.Options) {
		if o.Namespace != n {
			t.Errorf("Namespace %q, want %q", o.Namespace, n)
		}
	}
}

func wantAPIKey(t *testing.T, _ *Config, o client.Options) {
	if o.Credentials == nil {
		t.Error("no credentials: the API key was dropped")
	}
}

// wantTLS wants TLS on, and check to pass on its settings.
func wantTLS(check func(*tls.Config) bool) func(*testing.T, *Config, client.Options) {
	return func(t *testing.T, _ *Config, o client.Options) {
		if o.ConnectionOptions.TLS == nil || !check(o.ConnectionOptions.TLS) {
			t.Errorf("TLS %+v, want it on with the setting given", o.ConnectionOptions.TLS)
		}
	}
}

// addressCases: --address, -n and what they fall back to.
func addressCases(toml string) []temporalCase {
	return []temporalCase{
		{"defaults", nil, nil, func(t *testing.T, c *Config, o client.Options) {
			wantAddress("localhost:7233")(t, c, o)
			wantNamespace("default")(t, c, o)
			if o.ConnectionOptions.TLS != nil || o.Credentials != nil || c.ConnectTimeout != 5*time.Second {
				t.Errorf("TLS %v credentials %v timeout %s, want none, none, 5s", o.ConnectionOptions.TLS, o.Credentials, c.ConnectTimeout)
			}
		}},
		{"--address", nil, []string{"--address", "flag:7233"}, wantAddress("flag:7233")},
		{"--temporal-address (old name)", nil, []string{"--temporal-address", "old:7233"}, wantAddress("old:7233")},
		{"TEMPORAL_ADDRESS", map[string]string{"TEMPORAL_ADDRESS": "env:7233"}, nil, wantAddress("env:7233")},
		{"--address beats TEMPORAL_ADDRESS", map[string]string{"TEMPORAL_ADDRESS": "env:7233"}, []string{"--address", "flag:7233"}, wantAddress("flag:7233")},
		{"-n", nil, []string{"-n", "short-ns"}, wantNamespace("short-ns")},
		{"--namespace", nil, []string{"--namespace", "long-ns"}, wantNamespace("long-ns")},
		{"TEMPORAL_NAMESPACE", map[string]string{"TEMPORAL_NAMESPACE": "env-ns"}, nil, wantNamespace("env-ns")},
		{"-n beats TEMPORAL_NAMESPACE", map[string]string{"TEMPORAL_NAMESPACE": "env-ns"}, []string{"-n", "flag-ns"}, wantNamespace("flag-ns")},
		{"TEMPORAL_ADDRESS beats the profile", map[string]string{"TEMPORAL_CONFIG_FILE": toml, "TEMPORAL_PROFILE": "prod", "TEMPORAL_ADDRESS": "env:7233"}, nil, wantAddress("env:7233")},
		{"--client-connect-timeout", nil, []string{"--client-connect-timeout", "750ms"}, func(t *testing.T, c *Config, _ client.Options) {
			if c.ConnectTimeout != 750*time.Millisecond {
				t.Errorf("ConnectTimeout %s", c.ConnectTimeout)
			}
		}},
	}
}

// profileCases: --config-file, --profile and --api-key.
func profileCases(toml string) []temporalCase {
	return []temporalCase{
		{"--config-file", nil, []string{"--config-file", toml}, wantAddress("default:7233")},
		{"TEMPORAL_CONFIG_FILE", map[string]string{"TEMPORAL_CONFIG_FILE": toml}, nil, wantAddress("default:7233")},
		{"--profile", nil, []string{"--config-file", toml, "--profile", "prod"}, func(t *testing.T, c *Config, o client.Options) {
			wantAddress("prod:7233")(t, c, o)
			wantNamespace("prod-ns")(t, c, o)
		}},
		{"TEMPORAL_PROFILE", map[string]string{"TEMPORAL_CONFIG_FILE": toml, "TEMPORAL_PROFILE": "prod"}, nil, wantAddress("prod:7233")},
		{"--profile beats TEMPORAL_PROFILE", map[string]string{"TEMPORAL_CONFIG_FILE": toml, "TEMPORAL_PROFILE": "nope"}, []string{"--profile", "prod"}, wantAddress("prod:7233")},
		{"--api-key", nil, []string{"--api-key", "flag-key-0123"}, wantAPIKey},
		{"TEMPORAL_API_KEY", map[string]string{"TEMPORAL_API_KEY": "env-key-0123"}, nil, wantAPIKey},
	}
}

// tlsCases: --tls and the TLS paths and name.
func tlsCases(t *testing.T) []temporalCase {
	cert, key, ca := tlsFiles(t)
	on := func(*tls.Config) bool { return true }
	name := func(n string) func(*tls.Config) bool { return func(c *tls.Config) bool { return c.ServerName == n } }
	hasCA := func(c *tls.Config) bool { return c.RootCAs != nil }
	hasCert := func(c *tls.Config) bool { return len(c.Certificates) == 1 }
	return []temporalCase{
		{"--tls", nil, []string{"--tls"}, wantTLS(on)},
		{"TEMPORAL_TLS", map[string]string{"TEMPORAL_TLS": "true"}, nil, wantTLS(on)},
		{"--tls=false beats TEMPORAL_TLS", map[string]string{"TEMPORAL_TLS": "true"}, []string{"--tls=false"}, func(t *testing.T, _ *Config, o client.Options) {
			if o.ConnectionOptions.TLS != nil {
				t.Error("TLS on, want it off")
			}
		}},
		{"--tls-server-name", nil, []string{"--tls-server-name", "flag.test"}, wantTLS(name("flag.test"))},
		{"TEMPORAL_TLS_SERVER_NAME", map[string]string{"TEMPORAL_TLS_SERVER_NAME": "env.test"}, nil, wantTLS(name("env.test"))},
		{"--tls-ca-path", nil, []string{"--tls-ca-path", ca}, wantTLS(hasCA)},
		{"TEMPORAL_TLS_SERVER_CA_CERT_PATH", map[string]string{"TEMPORAL_TLS_SERVER_CA_CERT_PATH": ca}, nil, wantTLS(hasCA)},
		{"--tls-cert-path --tls-key-path", nil, []string{"--tls-cert-path", cert, "--tls-key-path", key}, wantTLS(hasCert)},
		{"TEMPORAL_TLS_CLIENT_CERT_PATH TEMPORAL_TLS_CLIENT_KEY_PATH",
			map[string]string{"TEMPORAL_TLS_CLIENT_CERT_PATH": cert, "TEMPORAL_TLS_CLIENT_KEY_PATH": key}, nil, wantTLS(hasCert)},
	}
}

// TestTemporalFlagsAndEnv runs every Temporal flag and its environment
// variable, as the temporal CLI names them, and checks the client options
// each gives; a flag beats its variable, which beats the profile. Every
// flag and variable of TemporalFlagEnv has a case.
func TestTemporalFlagsAndEnv(t *testing.T) {
	toml := filepath.Join(t.TempDir(), "temporal.toml")
	if err := os.WriteFile(toml, []byte("[profile.default]\naddress = \"default:7233\"\n\n[profile.prod]\naddress = \"prod:7233\"\nnamespace = \"prod-ns\"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := append(append(addressCases(toml), profileCases(toml)...), tlsCases(t)...)
	covered := map[string]bool{}
	for _, tt := range tests {
		for _, w := range strings.Fields(tt.name) {
			covered[strings.TrimPrefix(w, "--")] = true
		}
		t.Run(tt.name, func(t *testing.T) {
			unsetTemporalEnv(t)
			for k, v := range tt.env {
				t.Setenv(k, v)
			}
			c, opts := resolve(t, tt.args...)
			tt.want(t, c, opts)
		})
	}
	for _, f := range TemporalFlagEnv {
		if !covered[f.Name] || (f.Env != "" && !covered[f.Env]) {
			t.Errorf("--%s (env %q) has no case here", f.Name, f.Env)
		}
	}
}
