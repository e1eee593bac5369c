package stream

import (
	"cmp"
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
)

// Trim deletes the entries of a stream that every consumer group has acked
// and that are older than retention. It never removes an entry a group has
// not read or not acked: the cut is the oldest pending entry or, with
// nothing pending, the last delivered one, of the slowest group. It returns
// how many entries it removed.
func Trim(ctx context.Context, rdb redis.UniversalClient, stream string, retention time.Duration) (int64, error) {
	cutoff := time.Now().Add(-retention).UnixMilli()
	safe, err := safeTrimID(ctx, rdb, stream)
	if err != nil || safe == "" {
		return 0, err
	}
	minID := safe
	if ms, _, _ := strings.Cut(safe, "-"); parseInt(ms) > cutoff {
		minID = strconv.FormatInt(cutoff, 10) + "-0"
	}
	n, err := rdb.XTrimMinID(ctx, stream, minID).Result()
	if err != nil {
		return 0, fmt.Errorf("trim %s: %w", stream, err)
	}
	return n, nil
}

// safeTrimID is the smallest ID some group of the stream still needs, or ""
// when the stream has no group (then nothing is safe to trim).
func safeTrimID(ctx context.Context, rdb redis.UniversalClient, stream string) (string, error) {
	groups, err := rdb.XInfoGroups(ctx, stream).Result()
	if err != nil {
		if redis.HasErrorPrefix(err, "ERR no such key") {
			return "", nil
		}
		return "", fmt.Errorf("groups of %s: %w", stream, err)
	}
	safe := ""
	for _, g := range groups {
		need := g.LastDeliveredID
		if g.Pending > 0 {
			p, err := rdb.XPending(ctx, stream, g.Name).Result()
			if err != nil {
				return "", fmt.Errorf("pending of %s on %s: %w", g.Name, stream, err)
			}
			need = p.Lower
		}
		if safe == "" || CompareIDs(need, safe) < 0 {
			safe = need
		}
	}
	return safe, nil
}

// CompareIDs compares two stream entry IDs ("ms-seq") by time, then sequence.
func CompareIDs(a, b string) int {
	am, as, _ := strings.Cut(a, "-")
	bm, bs, _ := strings.Cut(b, "-")
	if c := cmp.Compare(parseInt(am), parseInt(bm)); c != 0 {
		return c
	}
	return cmp.Compare(parseInt(as), parseInt(bs))
}

func parseInt(s string) int64 {
	n, _ := strconv.ParseInt(s, 10, 64)
	return n
}
