package config

import (
	"fmt"
	"time"

	"github.com/spf13/pflag"
	"go.temporal.io/sdk/contrib/envconfig"
)

// DefaultConnectTimeout bounds a connection attempt unless
// --client-connect-timeout says otherwise.
const DefaultConnectTimeout = 5 * time.Second

// temporalFlags are the Temporal connection flags, named as the temporal
// CLI names them. Precedence, as there: a flag, then its environment
// variable, then the profile of temporal.toml, then the default.
type temporalFlags struct {
	fs                                      *pflag.FlagSet
	address, namespace, profile, configFile string
	apiKey                                  string
	tls                                     bool
	certPath, keyPath, caPath, serverName   string
}

// TemporalFlag names a Temporal connection flag and the environment
// variable it falls back to ("" for none), for help texts and docs.
type TemporalFlag struct{ Name, Env string }

// TemporalFlagEnv lists the Temporal connection flags with the variables
// the SDK's environment configuration (and so the temporal CLI) reads.
var TemporalFlagEnv = []TemporalFlag{
	{"address", "TEMPORAL_ADDRESS"}, {"namespace", "TEMPORAL_NAMESPACE"},
	{"profile", "TEMPORAL_PROFILE"}, {"config-file", "TEMPORAL_CONFIG_FILE"},
	{"api-key", "TEMPORAL_API_KEY"}, {"tls", "TEMPORAL_TLS"},
	{"tls-cert-path", "TEMPORAL_TLS_CLIENT_CERT_PATH"}, {"tls-key-path", "TEMPORAL_TLS_CLIENT_KEY_PATH"},
	{"tls-ca-path", "TEMPORAL_TLS_SERVER_CA_CERT_PATH"}, {"tls-server-name", "TEMPORAL_TLS_SERVER_NAME"},
	{"client-connect-timeout", ""},
}

// TemporalFlags adds the Temporal connection flags to fs, as the temporal
// CLI names them, with --temporal-address kept as a hidden alias of
// --address. Call Resolve once fs is parsed.
func (c *Config) TemporalFlags(fs *pflag.FlagSet) {
	f := &c.tflags
	f.fs = fs
	fs.StringVar(&f.address, "address", "", "Temporal frontend host:port (env TEMPORAL_ADDRESS, or the profile's; default "+DefaultTemporalAddress+")")
	fs.StringVar(&f.address, "temporal-address", "", "same as --address")
	_ = fs.MarkHidden("temporal-address")
	fs.StringVarP(&f.namespace, "namespace", "n", "", "Temporal namespace (env TEMPORAL_NAMESPACE, or the profile's; default "+DefaultNamespace+")")
	fs.StringVar(&f.profile, "profile", "", "profile of temporal.toml to use (env TEMPORAL_PROFILE; default: default)")
	fs.StringVar(&f.configFile, "config-file", "", "temporal.toml to read profiles from (env TEMPORAL_CONFIG_FILE; default: temporalio/temporal.toml in the user's config directory)")
	fs.StringVar(&f.apiKey, "api-key", "", "API key for Temporal Cloud; prefer env TEMPORAL_API_KEY, which no process listing shows")
	fs.BoolVar(&f.tls, "tls", false, "connect with TLS; --tls=false to turn it off (env TEMPORAL_TLS)")
	fs.StringVar(&f.certPath, "tls-cert-path", "", "client certificate for mTLS (env TEMPORAL_TLS_CLIENT_CERT_PATH)")
	fs.StringVar(&f.keyPath, "tls-key-path", "", "client key for mTLS (env TEMPORAL_TLS_CLIENT_KEY_PATH)")
	fs.StringVar(&f.caPath, "tls-ca-path", "", "CA certificate to check the server with (env TEMPORAL_TLS_SERVER_CA_CERT_PATH)")
	fs.StringVar(&f.serverName, "tls-server-name", "", "server name to check the certificate against (env TEMPORAL_TLS_SERVER_NAME)")
	fs.DurationVar(&c.ConnectTimeout, "client-connect-timeout", c.ConnectTimeout, "give up connecting to Temporal or Redis after this long")
}

// Resolve loads the Temporal client profile (--config-file, --profile, or
// their variables) with the TEMPORAL_* variables on top, then the flags
// given on top of that. A profile that cannot be loaded is reported by
// Temporal and TemporalOptions, so that commands that need no Temporal
// still run.
func (c *Config) Resolve() {
	f := &c.tflags
	c.profile, c.profileErr = envconfig.LoadClientConfigProfile(envconfig.LoadClientConfigProfileOptions{
		ConfigFilePath: f.configFile, ConfigFileProfile: f.profile,
	})
	if c.profileErr != nil {
		c.profileErr = fmt.Errorf("temporal client settings (--profile, --config-file, TEMPORAL_PROFILE, TEMPORAL_CONFIG_FILE, temporal.toml): %s",
			redactText(c.profileErr.Error(), c.secrets()))
	}
	c.applyFlags()
	c.TemporalAddress = c.profile.Address
	if c.TemporalAddress == "" {
		c.TemporalAddress = DefaultTemporalAddress
	}
	c.Namespace = c.profile.Namespace
	if c.Namespace == "" {
		c.Namespace = DefaultNamespace
	}
}

// applyFlags writes the Temporal flags given on the command line over the
// profile.
func (c *Config) applyFlags() {
	f, p := &c.tflags, &c.profile
	set := func(names ...string) bool {
		for _, n := range names {
			if fl := f.fs.Lookup(n); fl != nil && fl.Changed {
				return true
			}
		}
		return false
	}
	if f.fs == nil {
		return
	}
	if set("address", "temporal-address") {
		p.Address = f.address
	}
	if set("namespace") {
		p.Namespace = f.namespace
	}
	if set("api-key") {
		p.APIKey = f.apiKey
	}
	tls := func() *envconfig.ClientConfigTLS {
		if p.TLS == nil {
			p.TLS = &envconfig.ClientConfigTLS{}
		}
		return p.TLS
	}
	if set("tls") {
		tls().Disabled = !f.tls
	}
	for _, s := range []struct {
		name string
		dst  func() *string
		val  string
	}{
		{"tls-cert-path", func() *string { return &tls().ClientCertPath }, f.certPath},
		{"tls-key-path", func() *string { return &tls().ClientKeyPath }, f.keyPath},
		{"tls-ca-path", func() *string { return &tls().ServerCACertPath }, f.caPath},
		{"tls-server-name", func() *string { return &tls().ServerName }, f.serverName},
	} {
		if set(s.name) {
			*s.dst() = s.val
		}
	}
}
