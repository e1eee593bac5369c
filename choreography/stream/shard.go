package stream

import (
	"github.com/redis/go-redis/v9"

	"github.com/ordersaga/ordersaga/internal/platform/keyspace"
)

// Shards groups streams that one XREADGROUP can read together: all of them
// on one Redis, those of one hash slot on a Redis Cluster (a command there
// names keys of one slot only). The order of streams is kept.
func Shards(rdb redis.UniversalClient, streams []string) [][]string {
	var out [][]string
	for _, g := range keyspace.Groups(rdb, streams) {
		shard := make([]string, len(g))
		for i, j := range g {
			shard[i] = streams[j]
		}
		out = append(out, shard)
	}
	return out
}

// ReaderClient returns the client blocking reads of shards go through. On
// one Redis that is rdb itself (one blocked connection). On a cluster each
// shard's reader holds a connection while it blocks, so the readers get a
// client of their own, with a pool as large as the shards: they never take
// the connections handlers need. The returned func releases it.
func ReaderClient(rdb redis.UniversalClient, shards int) (redis.UniversalClient, func()) {
	cc, ok := rdb.(*redis.ClusterClient)
	if !ok || shards <= 1 {
		return rdb, func() {}
	}
	opts := *cc.Options()
	opts.PoolSize = shards + 1
	opts.MinIdleConns, opts.MaxIdleConns = 0, shards+1
	readers := redis.NewClusterClient(&opts)
	return readers, func() { _ = readers.Close() }
}
