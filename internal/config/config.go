// Package config reads the connection settings every command shares, from
// flags with environment fallbacks, and connects with clear errors.
package config

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
	"go.temporal.io/sdk/client"
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
	RedisURL        string
	// UIURL is the Temporal Web UI's base URL, for links.
	UIURL string
	// ConnectTimeout bounds how long a connection attempt may take.
	ConnectTimeout time.Duration
	// Partitions of the key layout (see partitions.go).
	Partitions int
}

// FromEnv returns the settings from the environment, with localhost defaults.
func FromEnv() *Config {
	return &Config{
		TemporalAddress: env("TEMPORAL_ADDRESS", DefaultTemporalAddress),
		Namespace:       env("TEMPORAL_NAMESPACE", DefaultNamespace),
		RedisURL:        env("REDIS_URL", DefaultRedisURL),
		UIURL:           env("TEMPORAL_UI_URL", DefaultUIURL),
		ConnectTimeout:  5 * time.Second,
		Partitions:      partitionsFromEnv(),
	}
}

// Register adds the shared flags to fs, with defaults from the environment.
func Register(fs *flag.FlagSet) *Config {
	c := FromEnv()
	c.Flags(fs)
	return c
}

// Flags adds the shared flags to fs, writing into c, with c's current
// values as defaults (so flags given before a subcommand carry over).
func (c *Config) Flags(fs *flag.FlagSet) {
	fs.StringVar(&c.TemporalAddress, "temporal-address", c.TemporalAddress, "Temporal frontend host:port (env TEMPORAL_ADDRESS)")
	fs.StringVar(&c.Namespace, "namespace", c.Namespace, "Temporal namespace (env TEMPORAL_NAMESPACE)")
	fs.StringVar(&c.RedisURL, "redis-url", c.RedisURL, "Redis URL, redis://[:password@]host:port/db (env REDIS_URL)")
	c.partitionsFlag(fs)
}

func env(key, def string) string {
	if v := os.Getenv(key); v != "" {
		return v
	}
	return def
}

// ErrUnreachable is wrapped when a server does not answer.
var ErrUnreachable = errors.New("unreachable")

// debugRedisLog sends go-redis's own messages (reconnects, pool dials) to
// slog at debug level instead of the standard logger.
type debugRedisLog struct{}

func (debugRedisLog) Printf(ctx context.Context, format string, v ...any) {
	slog.DebugContext(ctx, fmt.Sprintf(format, v...), "component", "redis")
}

// Redis connects to Redis and checks that it answers.
func (c *Config) Redis(ctx context.Context) (*redis.Client, error) {
	redis.SetLogger(debugRedisLog{})
	opts, err := redis.ParseURL(c.RedisURL)
	if err != nil {
		return nil, fmt.Errorf("bad --redis-url %q: %w", c.RedisURL, err)
	}
	opts.DialTimeout = c.ConnectTimeout
	rdb := redis.NewClient(opts)
	pctx, cancel := context.WithTimeout(ctx, c.ConnectTimeout)
	defer cancel()
	if err := rdb.Ping(pctx).Err(); err != nil {
		_ = rdb.Close()
		return nil, fmt.Errorf("redis at %s is %w (%v); %s", opts.Addr, ErrUnreachable, err, HowToStart)
	}
	return rdb, nil
}

// Temporal connects to the Temporal frontend and checks that it answers.
func (c *Config) Temporal(ctx context.Context, log *slog.Logger) (client.Client, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	dctx, cancel := context.WithTimeout(ctx, c.ConnectTimeout)
	defer cancel()
	tc, err := client.DialContext(dctx, client.Options{
		HostPort:  c.TemporalAddress,
		Namespace: c.Namespace,
		Logger:    tlog.NewStructuredLogger(log),
	})
	if err != nil {
		return nil, fmt.Errorf("temporal at %s is %w (%v); %s", c.TemporalAddress, ErrUnreachable, err, HowToStart)
	}
	return tc, nil
}

// Logger returns a text logger on stderr at the given level name.
func Logger(level string) (*slog.Logger, error) {
	var l slog.Level
	if err := l.UnmarshalText([]byte(level)); err != nil {
		return nil, fmt.Errorf("bad log level %q (want debug, info, warn or error)", level)
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: l}))
	slog.SetDefault(log)
	return log, nil
}
