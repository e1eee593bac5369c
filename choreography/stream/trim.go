package stream

import (
	"cmp"
	"context"
	_ "embed"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
)

//go:embed lua/trim.lua
var trimLua string

var trimScript = redis.NewScript(trimLua)

// Trim deletes the entries of a stream that every consumer group has acked
// and that are older than retention. It never removes an entry a group has
// not read or not acked, whatever runs meanwhile: one script works out the
// cut (the oldest pending entry or, with nothing pending, the last
// delivered one, of the slowest group) and trims. A stream without groups
// is left alone. It returns how many entries it removed.
func Trim(ctx context.Context, rdb redis.UniversalClient, stream string, retention time.Duration) (int64, error) {
	cutoff := strconv.FormatInt(time.Now().Add(-retention).UnixMilli(), 10) + "-0"
	n, err := trimScript.Run(ctx, rdb, []string{stream}, cutoff).Int64()
	if err != nil {
		return 0, fmt.Errorf("trim %s: %w", stream, err)
	}
	return n, nil
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
