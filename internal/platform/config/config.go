// Package config reads the connection settings every command shares, from
// flags with environment fallbacks, and connects with clear errors.
//
// Temporal is configured the way Temporal's own tools read it: the SDK's
// environment configuration (TEMPORAL_ADDRESS, TEMPORAL_NAMESPACE,
// TEMPORAL_API_KEY, TEMPORAL_TLS*, TEMPORAL_PROFILE and the profiles of
// temporal.toml, see TEMPORAL_CONFIG_FILE), with the temporal CLI's flags
// on top (--address, -n/--namespace, --profile, --tls…: see TemporalFlags). Redis is one server named by REDIS_URL, or a cluster
// named by REDIS_CLUSTER_URL. No secret (a password, an API key) ever
// appears in an error, a log line or a usage text: see Redact.
package config

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/contrib/envconfig"
	"go.temporal.io/sdk/interceptor"
	tlog "go.temporal.io/sdk/log"
)

// Defaults that work on localhost.
const (
	DefaultTemporalAddress = "localhost:7233"
	DefaultNamespace       = "default"
	DefaultRedisURL        = "redis://localhost:6379/0"
	DefaultUIURL           = "http://localhost:8233"
)

// WorkflowURL is the Temporal Web UI page of an order's workflow.
func (c *Config) WorkflowURL(workflowID string) string {
	return strings.TrimRight(c.UIURL, "/") + "/namespaces/" + url.PathEscape(c.Namespace) + "/workflows/" + url.PathEscape(workflowID)
}

// HowToStart tells a user how to bring the servers up.
const HowToStart = "start them with `docker compose up -d` or `make up` (see README)"

// Config holds the connection settings.
type Config struct {
	TemporalAddress string
	Namespace       string
	// RedisURL names one Redis: redis://[user:password@]host:port/db.
	RedisURL string
	// RedisClusterURL, when set, names a Redis Cluster instead, in
	// go-redis's cluster URL form:
	// redis://[user:password@]host:port?addr=host2:port2&addr=host3:port3.
	RedisClusterURL string
	// UIURL is the Temporal Web UI's base URL, for links.
	UIURL string
	// ConnectTimeout bounds how long a connection attempt may take.
	ConnectTimeout time.Duration
	// TemporalInterceptors and TemporalMetrics, when set, go into the
	// options of every Temporal client made from c (tracing, the SDK's
	// metrics); a worker built on such a client uses them too.
	TemporalInterceptors []interceptor.ClientInterceptor
	TemporalMetrics      client.MetricsHandler

	// profile is the Temporal client profile loaded from temporal.toml and
	// the TEMPORAL_* variables; profileErr is why it could not be loaded.
	profile    envconfig.ClientConfigProfile
	profileErr error
	// tflags are the Temporal flags (see TemporalFlags).
	tflags temporalFlags
	// Partitions of the key layout (see partitions.go).
	Partitions int
	// Log receives go-redis's own messages at debug level (nil: slog's
	// default logger).
	Log *slog.Logger
}

// FromEnv returns the settings from the environment, with localhost
// defaults. A Temporal profile that cannot be loaded (a missing profile, a
// malformed temporal.toml) is reported by Temporal and TemporalOptions.
func FromEnv() *Config {
	c := &Config{
		RedisURL:        env("REDIS_URL", DefaultRedisURL),
		RedisClusterURL: os.Getenv("REDIS_CLUSTER_URL"),
		UIURL:           env("TEMPORAL_UI_URL", DefaultUIURL),
		ConnectTimeout:  DefaultConnectTimeout,
		Partitions:      partitionsFromEnv(),
	}
	c.Resolve()
	return c
}

// Register adds the shared flags to fs, with defaults from the environment.
func Register(fs *flag.FlagSet) *Config {
	c := FromEnv()
	c.Flags(fs)
	return c
}

// Flags adds the shared flags to fs, writing into c, with c's current
// values as defaults (so flags given before a subcommand carry over). The
// Redis URLs are shown with their passwords masked.
func (c *Config) Flags(fs *flag.FlagSet) {
	fs.Var(secretURL{&c.RedisURL}, "redis-url", "one Redis, redis://[user:password@]host:port/db (env REDIS_URL)")
	fs.Var(secretURL{&c.RedisClusterURL}, "redis-cluster-url", "a Redis Cluster instead, redis://[user:password@]host:port?addr=host2:port2&addr=… (env REDIS_CLUSTER_URL)")
	c.partitionsFlag(fs)
}

// secretURL is a string flag whose value is printed redacted (in usage
// texts and defaults).
type secretURL struct{ p *string }

func (s secretURL) String() string {
	if s.p == nil {
		return ""
	}
	return Redact(*s.p)
}

func (s secretURL) Set(v string) error { *s.p = v; return nil }

func env(key, def string) string {
	if v := os.Getenv(key); v != "" {
		return v
	}
	return def
}

// ErrUnreachable is wrapped when a server does not answer.
var ErrUnreachable = errors.New("unreachable")

// ErrRedisAuth is wrapped when Redis answers but refuses the user or the
// password of the URL: the server runs, the credentials are wrong.
var ErrRedisAuth = errors.New("refuses the user or password")

// redisAuthRefused tells a refused login (WRONGPASS, NOAUTH, or an AUTH
// sent to a server without a password) from a server out of reach.
func redisAuthRefused(err error) bool {
	msg := err.Error()
	for _, code := range []string{"WRONGPASS", "NOAUTH", "invalid password", "without any password configured", "invalid username-password pair"} {
		if strings.Contains(msg, code) {
			return true
		}
	}
	return false
}

// debugRedisLog sends go-redis's own messages (reconnects, one per failed
// pool dial) to the project's logger at debug level, with secrets masked,
// instead of go-redis's standard logger on stderr, which prints dozens of
// "pool.go: failed to dial" lines during an outage. The error the command
// returns, or the warning of the loop that retries, is the one line an
// outage prints at the default level.
type debugRedisLog struct {
	log     *slog.Logger
	secrets []string
}

func (l debugRedisLog) Printf(ctx context.Context, format string, v ...any) {
	l.log.DebugContext(ctx, redactText(fmt.Sprintf(format, v...), l.secrets), "component", "redis")
}

// Redis connects to Redis (the cluster when RedisClusterURL is set) and
// checks that it answers and that no node may evict keys: every new
// connection first reads its node's maxmemory-policy (see EvictionError,
// EnvAllowEviction). A write a full Redis refuses fails with a FullError.
// A cluster gives a *redis.ClusterClient.
func (c *Config) Redis(ctx context.Context) (redis.UniversalClient, error) {
	log := c.Log
	if log == nil {
		log = slog.Default()
	}
	// go-redis has one logger per process: the last connection's wins.
	redis.SetLogger(debugRedisLog{log: log, secrets: c.secrets()})
	var (
		rdb   redis.UniversalClient
		addr  string
		guard = newEvictionGuard()
	)
	if c.RedisClusterURL != "" {
		opts, err := redis.ParseClusterURL(c.RedisClusterURL)
		if err != nil {
			return nil, badURL("--redis-cluster-url", c.RedisClusterURL, err)
		}
		opts.DialTimeout = c.ConnectTimeout
		opts.OnConnect = guard.onConnect
		addr = "cluster " + strings.Join(opts.Addrs, ",")
		rdb = redis.NewClusterClient(opts)
	} else {
		opts, err := redis.ParseURL(c.RedisURL)
		if err != nil {
			return nil, badURL("--redis-url", c.RedisURL, err)
		}
		opts.DialTimeout = c.ConnectTimeout
		opts.OnConnect = guard.onConnect
		addr = opts.Addr
		rdb = redis.NewClient(opts)
	}
	rdb.AddHook(fullHook{})
	pctx, cancel := context.WithTimeout(ctx, c.ConnectTimeout)
	defer cancel()
	err := rdb.Ping(pctx).Err()
	if err == nil {
		err = checkEveryNode(pctx, rdb)
	}
	if err != nil {
		_ = rdb.Close()
		if evict, ok := errors.AsType[*EvictionError](err); ok {
			return nil, evict
		}
		why := redactText(err.Error(), c.secrets())
		if redisAuthRefused(err) {
			return nil, fmt.Errorf("redis at %s %w (%s): check the user and password in --redis-url/REDIS_URL (or --redis-cluster-url/REDIS_CLUSTER_URL); make up writes the stack's to .state/env", addr, ErrRedisAuth, why)
		}
		return nil, fmt.Errorf("redis at %s is %w (%s); %s", addr, ErrUnreachable, why, HowToStart)
	}
	if guard.allow {
		log.WarnContext(ctx, "eviction check relaxed by "+EnvAllowEviction+"=1: a Redis that evicts loses orders without an error", "redis", addr)
	}
	return rdb, nil
}

// badURL is the error for a Redis URL that does not parse, naming the URL
// with its password masked. When the URL carries credentials and is not
// even a URL, the parser's own words (which quote pieces of it) are left out.
func badURL(flagName, raw string, err error) error {
	want := "redis://[user:password@]host:port/db"
	if flagName == "--redis-cluster-url" {
		want = "redis://[user:password@]host:port?addr=host2:port2&addr=…"
	}
	detail := err.Error()
	var uerr *url.Error
	if errors.As(err, &uerr) {
		detail = uerr.Err.Error()
		if strings.Contains(raw, "@") {
			detail = "not a valid URL"
		}
	}
	return fmt.Errorf("bad %s %q: %s (want %s)", flagName, Redact(raw), redactText(detail, urlSecrets(raw)), want)
}

// TemporalOptions returns the client options: the profile from temporal.toml
// and the TEMPORAL_* variables (API key, TLS, gRPC metadata), then the
// address and namespace of c on top (flags override the environment).
func (c *Config) TemporalOptions(log *slog.Logger) (client.Options, error) {
	if c.profileErr != nil {
		return client.Options{}, c.profileErr
	}
	opts, err := c.profile.ToClientOptions(envconfig.ToClientOptionsRequest{})
	if err != nil {
		return client.Options{}, fmt.Errorf("temporal client settings: %s", redactText(err.Error(), c.secrets()))
	}
	opts.HostPort = c.TemporalAddress
	opts.Namespace = c.Namespace
	opts.Interceptors = append(opts.Interceptors, c.TemporalInterceptors...)
	if c.TemporalMetrics != nil {
		opts.MetricsHandler = c.TemporalMetrics
	}
	if log != nil {
		opts.Logger = tlog.NewStructuredLogger(log)
	}
	return opts, nil
}

// Temporal connects to the Temporal frontend and checks that it answers.
func (c *Config) Temporal(ctx context.Context, log *slog.Logger) (client.Client, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	opts, err := c.TemporalOptions(log)
	if err != nil {
		return nil, err
	}
	dctx, cancel := context.WithTimeout(ctx, c.ConnectTimeout)
	defer cancel()
	tc, err := client.DialContext(dctx, opts)
	if err != nil {
		return nil, fmt.Errorf("temporal at %s is %w (%s); %s", c.TemporalAddress, ErrUnreachable, redactText(err.Error(), c.secrets()), HowToStart)
	}
	return tc, nil
}

// The --log-format values.
const (
	LogText = "text" // logfmt-style key=value lines
	LogJSON = "json" // one JSON object a line
)

// LogFormatUsage is the usage text of --log-format.
const LogFormatUsage = "log format: text (key=value) or json (one object a line)"

// NewLogger returns a logger on w at the given level name, in the given
// format (LogText or LogJSON).
func NewLogger(w io.Writer, level, format string) (*slog.Logger, error) {
	var l slog.Level
	if err := l.UnmarshalText([]byte(level)); err != nil {
		return nil, fmt.Errorf("bad log level %q (want debug, info, warn or error)", level)
	}
	opts := &slog.HandlerOptions{Level: l}
	switch format {
	case LogText:
		return slog.New(slog.NewTextHandler(w, opts)), nil
	case LogJSON:
		return slog.New(slog.NewJSONHandler(w, opts)), nil
	}
	return nil, fmt.Errorf("bad log format %q (want %s or %s)", format, LogText, LogJSON)
}

// Logger returns a logger on stderr at the given level name and in the
// given format, and makes it slog's default.
func Logger(level, format string) (*slog.Logger, error) {
	log, err := NewLogger(os.Stderr, level, format)
	if err != nil {
		return nil, err
	}
	slog.SetDefault(log)
	return log, nil
}
