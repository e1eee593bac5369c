package config

import (
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

// TestTemporalFlagsAndEnv runs every Temporal flag and its environment
// variable, as the temporal CLI names them, and checks the client options
// each gives; a flag beats its variable, which beats the profile.
func TestTemporalFlagsAndEnv(t *testing.T) {
	cert, key, ca := tlsFiles(t)
	toml := filepath.Join(t.TempDir(), "temporal.toml")
	if err := os.WriteFile(toml, []byte("[profile.default]\naddress = \"default:7233\"\n\n[profile.prod]\naddress = \"prod:7233\"\nnamespace = \"prod-ns\"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	type want func(t *testing.T, c *Config, o client.Options)
	address := func(a string) want {
		return func(t *testing.T, _ *Config, o client.Options) {
			if o.HostPort != a {
				t.Errorf("HostPort %q, want %q", o.HostPort, a)
			}
		}
	}
	namespace := func(n string) want {
		return func(t *testing.T, _ *Config, o client.Options) {
			if o.Namespace != n {
				t.Errorf("Namespace %q, want %q", o.Namespace, n)
			}
		}
	}
	apiKey := func(t *testing.T, _ *Config, o client.Options) {
		if o.Credentials == nil {
			t.Error("no credentials: the API key was dropped")
		}
	}
	tlsOn := func(check func(t *testing.T, o client.Options)) want {
		return func(t *testing.T, _ *Config, o client.Options) {
			if o.ConnectionOptions.TLS == nil {
				t.Fatal("no TLS")
			}
			check(t, o)
		}
	}
	nothing := func(*testing.T, client.Options) {}
	tests := []struct {
		name string
		env  map[string]string
		args []string
		want want
	}{
		{"defaults", nil, nil, func(t *testing.T, c *Config, o client.Options) {
			address("localhost:7233")(t, c, o)
			namespace("default")(t, c, o)
			if o.ConnectionOptions.TLS != nil || o.Credentials != nil || c.ConnectTimeout != 5*time.Second {
				t.Errorf("TLS %v credentials %v timeout %s, want none, none, 5s", o.ConnectionOptions.TLS, o.Credentials, c.ConnectTimeout)
			}
		}},
		{"--address", nil, []string{"--address", "flag:7233"}, address("flag:7233")},
		{"--temporal-address (old name)", nil, []string{"--temporal-address", "old:7233"}, address("old:7233")},
		{"TEMPORAL_ADDRESS", map[string]string{"TEMPORAL_ADDRESS": "env:7233"}, nil, address("env:7233")},
		{"--address beats TEMPORAL_ADDRESS", map[string]string{"TEMPORAL_ADDRESS": "env:7233"}, []string{"--address", "flag:7233"}, address("flag:7233")},
		{"-n", nil, []string{"-n", "short-ns"}, namespace("short-ns")},
		{"--namespace", nil, []string{"--namespace", "long-ns"}, namespace("long-ns")},
		{"TEMPORAL_NAMESPACE", map[string]string{"TEMPORAL_NAMESPACE": "env-ns"}, nil, namespace("env-ns")},
		{"-n beats TEMPORAL_NAMESPACE", map[string]string{"TEMPORAL_NAMESPACE": "env-ns"}, []string{"-n", "flag-ns"}, namespace("flag-ns")},
		{"--config-file", nil, []string{"--config-file", toml}, address("default:7233")},
		{"TEMPORAL_CONFIG_FILE", map[string]string{"TEMPORAL_CONFIG_FILE": toml}, nil, address("default:7233")},
		{"--profile", nil, []string{"--config-file", toml, "--profile", "prod"}, func(t *testing.T, c *Config, o client.Options) {
			address("prod:7233")(t, c, o)
			namespace("prod-ns")(t, c, o)
		}},
		{"TEMPORAL_PROFILE", map[string]string{"TEMPORAL_CONFIG_FILE": toml, "TEMPORAL_PROFILE": "prod"}, nil, address("prod:7233")},
		{"--profile beats TEMPORAL_PROFILE", map[string]string{"TEMPORAL_CONFIG_FILE": toml, "TEMPORAL_PROFILE": "nope"}, []string{"--profile", "prod"}, address("prod:7233")},
		{"TEMPORAL_ADDRESS beats the profile", map[string]string{"TEMPORAL_CONFIG_FILE": toml, "TEMPORAL_PROFILE": "prod", "TEMPORAL_ADDRESS": "env:7233"}, nil, address("env:7233")},
		{"--api-key", nil, []string{"--api-key", "flag-key-0123"}, apiKey},
		{"TEMPORAL_API_KEY", map[string]string{"TEMPORAL_API_KEY": "env-key-0123"}, nil, apiKey},
		{"--tls", nil, []string{"--tls"}, tlsOn(nothing)},
		{"TEMPORAL_TLS", map[string]string{"TEMPORAL_TLS": "true"}, nil, tlsOn(nothing)},
		{"--tls=false beats TEMPORAL_TLS", map[string]string{"TEMPORAL_TLS": "true"}, []string{"--tls=false"}, func(t *testing.T, _ *Config, o client.Options) {
			if o.ConnectionOptions.TLS != nil {
				t.Error("TLS on, want it off")
			}
		}},
		{"--tls-server-name", nil, []string{"--tls-server-name", "flag.test"}, tlsOn(func(t *testing.T, o client.Options) {
			if o.ConnectionOptions.TLS.ServerName != "flag.test" {
				t.Errorf("ServerName %q", o.ConnectionOptions.TLS.ServerName)
			}
		})},
		{"TEMPORAL_TLS_SERVER_NAME", map[string]string{"TEMPORAL_TLS_SERVER_NAME": "env.test"}, nil, tlsOn(func(t *testing.T, o client.Options) {
			if o.ConnectionOptions.TLS.ServerName != "env.test" {
				t.Errorf("ServerName %q", o.ConnectionOptions.TLS.ServerName)
			}
		})},
		{"--tls-ca-path", nil, []string{"--tls-ca-path", ca}, tlsOn(func(t *testing.T, o client.Options) {
			if o.ConnectionOptions.TLS.RootCAs == nil {
				t.Error("no CA")
			}
		})},
		{"TEMPORAL_TLS_SERVER_CA_CERT_PATH", map[string]string{"TEMPORAL_TLS_SERVER_CA_CERT_PATH": ca}, nil, tlsOn(func(t *testing.T, o client.Options) {
			if o.ConnectionOptions.TLS.RootCAs == nil {
				t.Error("no CA")
			}
		})},
		{"--tls-cert-path --tls-key-path", nil, []string{"--tls-cert-path", cert, "--tls-key-path", key}, tlsOn(func(t *testing.T, o client.Options) {
			if len(o.ConnectionOptions.TLS.Certificates) != 1 {
				t.Error("no client certificate")
			}
		})},
		{"TEMPORAL_TLS_CLIENT_CERT_PATH TEMPORAL_TLS_CLIENT_KEY_PATH", map[string]string{"TEMPORAL_TLS_CLIENT_CERT_PATH": cert, "TEMPORAL_TLS_CLIENT_KEY_PATH": key}, nil,
			tlsOn(func(t *testing.T, o client.Options) {
				if len(o.ConnectionOptions.TLS.Certificates) != 1 {
					t.Error("no client certificate")
				}
			})},
		{"--client-connect-timeout", nil, []string{"--client-connect-timeout", "750ms"}, func(t *testing.T, c *Config, _ client.Options) {
			if c.ConnectTimeout != 750*time.Millisecond {
				t.Errorf("ConnectTimeout %s", c.ConnectTimeout)
			}
		}},
	}
	documented := map[string]bool{}
	for _, tt := range tests {
		for _, w := range strings.Fields(tt.name) {
			documented[strings.TrimPrefix(w, "--")] = true
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
		if !documented[f.Name] || (f.Env != "" && !documented[f.Env]) {
			t.Errorf("--%s (env %q) has no case here", f.Name, f.Env)
		}
	}
}
