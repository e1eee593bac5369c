package stream

import (
	"context"
	"crypto/rand"
	_ "embed"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/ordersaga/ordersaga/internal/platform/keyspace"
	"github.com/ordersaga/ordersaga/internal/platform/poll"
)

// A consumer name belongs to one live process at a time. The process that
// runs a consumer holds, for every stream it reads, a presence record
// (PresenceKey) with a short TTL, which it renews every PresenceTTL/5 while
// it runs and deletes when it stops. The record says two things that the
// stream's consumer-group information cannot: that the consumer runs (on
// Redis 7.0, XINFO CONSUMERS' idle time counts from the last read that
// returned entries, so a running consumer of a quiet stream looks as idle
// as a dead one), and which process holds the name.

//go:embed lua/presence.lua
var presenceLua string

var presenceScript = redis.NewScript(presenceLua)

//go:embed lua/release.lua
var releaseLua string

var releaseScript = redis.NewScript(releaseLua)

// ErrNameInUse: another live process holds the consumer name.
var ErrNameInUse = errors.New("consumer name in use")

// ErrNameLost: another process took the consumer name over while this one
// ran (this one could not renew its presence for longer than its TTL).
var ErrNameLost = errors.New("consumer name taken over")

// PresenceKey names the presence record of consumer name of group on
// stream. It is in the stream's hash slot, so that a script can name both.
func PresenceKey(stream, group, name string) string {
	suffix := ":presence:" + group + ":" + name
	if k := stream + suffix; keyspace.Slot(k) == keyspace.Slot(stream) {
		return k // the stream's hash tag comes first
	}
	if !strings.ContainsAny(stream, "{}") {
		return "{" + stream + "}" + suffix
	}
	// A name with braces but no hash tag: a tag of its slot.
	for i := 0; ; i++ {
		if tag := strconv.Itoa(i); keyspace.Slot(tag) == keyspace.Slot(stream) {
			return "{" + tag + "}" + stream + suffix
		}
	}
}

// Ref names one consumer of a group on a stream.
type Ref struct{ Stream, Group, Name string }

// Live reports, for each consumer, whether a running process holds its
// presence record: it does from its start until PresenceTTL after it last
// renewed it (a crash), or until it stopped (a graceful stop).
func Live(ctx context.Context, rdb redis.UniversalClient, refs []Ref) ([]bool, error) {
	if len(refs) == 0 {
		return nil, nil
	}
	pipe := rdb.Pipeline()
	cmds := make([]*redis.IntCmd, len(refs))
	for i, r := range refs {
		cmds[i] = pipe.Exists(ctx, PresenceKey(r.Stream, r.Group, r.Name))
	}
	if _, err := pipe.Exec(ctx); err != nil {
		return nil, fmt.Errorf("read consumers' presence: %w", err)
	}
	out := make([]bool, len(refs))
	for i, c := range cmds {
		out[i] = c.Val() > 0
	}
	return out, nil
}

// Holders returns, for each consumer, the token of the process that holds
// its presence record ("" when none does): its host, its pid and its tag
// (see Config.Tag and TagOf).
func Holders(ctx context.Context, rdb redis.UniversalClient, refs []Ref) ([]string, error) {
	if len(refs) == 0 {
		return nil, nil
	}
	pipe := rdb.Pipeline()
	cmds := make([]*redis.StringCmd, len(refs))
	for i, r := range refs {
		cmds[i] = pipe.Get(ctx, PresenceKey(r.Stream, r.Group, r.Name))
	}
	if _, err := pipe.Exec(ctx); err != nil && !errors.Is(err, redis.Nil) {
		return nil, fmt.Errorf("read consumers' presence: %w", err)
	}
	out := make([]string, len(refs))
	for i, c := range cmds {
		out[i] = c.Val()
	}
	return out, nil
}

// TagOf returns the value of key in a holder's token (see Holders), and
// whether the token has it: "2", true for key "catalogue" in a token
// tagged "catalogue 2".
func TagOf(token, key string) (string, bool) {
	words := strings.Fields(describe(token))
	for i := 4; i+1 < len(words); i += 2 { // after "host H pid P"
		if words[i] == key {
			return words[i+1], true
		}
	}
	return "", false
}

// Describe shows a holder's token without its random part: its host,
// pid and tag.
func Describe(token string) string { return describe(token) }

// presence is a consumer's hold on its name.
type presence struct {
	rdb         redis.UniversalClient
	group, name string
	keys        []string
	token       string
	ttl         time.Duration
	log         *slog.Logger
}

func newPresence(rdb redis.UniversalClient, group string, streams []string, cfg Config, log *slog.Logger) *presence {
	p := &presence{rdb: rdb, group: group, name: cfg.Name, ttl: cfg.PresenceTTL, log: log}
	for _, s := range streams {
		p.keys = append(p.keys, PresenceKey(s, group, cfg.Name))
	}
	host, _ := os.Hostname()
	tag := ""
	if cfg.Tag != "" {
		tag = " " + cfg.Tag
	}
	p.token = fmt.Sprintf("host %s pid %d%s #%s", host, os.Getpid(), tag, rand.Text())
	return p
}

// claim takes or renews every record, in order, and stops at the first
// another process holds: it returns that holder ("" when it holds them all).
func (p *presence) claim(ctx context.Context) (string, error) {
	for _, k := range p.keys {
		holder, err := presenceScript.Run(ctx, p.rdb, []string{k}, p.token, p.ttl.Milliseconds()).Text()
		if err != nil {
			return "", fmt.Errorf("claim consumer name %s: %w", p.name, err)
		}
		if holder != p.token {
			return holder, nil
		}
	}
	return "", nil
}

// acquire takes the name, waiting for at most one TTL and a bit while
// another process holds it: a crashed holder's records expire meanwhile, a
// live holder's do not. It returns ErrNameInUse when the name stays held.
func (p *presence) acquire(ctx context.Context) error {
	var holder string
	waiting := false
	err := poll.For(ctx, p.ttl+p.ttl/4, poll.Every(p.ttl/10), func(ctx context.Context) (bool, error) {
		var err error
		holder, err = p.claim(ctx)
		if holder != "" && !waiting {
			waiting = true
			p.log.Info("consumer name held by another process; waiting for its claim to expire",
				"holder", describe(holder), "ttl", p.ttl)
		}
		return holder == "", err
	})
	if errors.Is(err, context.DeadlineExceeded) && ctx.Err() == nil {
		return fmt.Errorf("%w: %q in group %s is held by a live process (%s); every running consumer needs a name of its own",
			ErrNameInUse, p.name, p.group, describe(holder))
	}
	return err
}

// keep renews the records every TTL/5 until ctx is done. When another
// process holds one, it calls lost with ErrNameLost and stops.
func (p *presence) keep(ctx context.Context, lost func(error)) {
	ctx, stop := context.WithCancel(ctx)
	defer stop()
	Tick(ctx, p.ttl/5, func() {
		holder, err := p.claim(ctx)
		switch {
		case err != nil:
			if ctx.Err() == nil {
				p.log.Warn("renewing the consumer's presence failed; retrying", "err", err)
			}
		case holder != "":
			lost(fmt.Errorf("%w: %q in group %s is now held by %s", ErrNameLost, p.name, p.group, describe(holder)))
			stop()
		}
	})
}

// release deletes the records this process still holds.
func (p *presence) release(ctx context.Context) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Second)
	defer cancel()
	for _, k := range p.keys {
		if err := releaseScript.Run(ctx, p.rdb, []string{k}, p.token).Err(); err != nil {
			p.log.Warn("releasing the consumer name failed; it expires by itself", "err", err, "ttl", p.ttl)
			return
		}
	}
}

// describe shows a holder's token without its random part.
func describe(token string) string {
	s, _, _ := strings.Cut(token, " #")
	return s
}
