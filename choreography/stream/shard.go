package stream

import (
	"strings"

	"github.com/redis/go-redis/v9"
)

// SlotCount is the number of hash slots of a Redis Cluster.
const SlotCount = 16384

// Slot is the Redis Cluster hash slot of a key: CRC16 of the key, or of its
// hash tag (the part between the first "{" and the next "}", when not
// empty), modulo SlotCount.
func Slot(key string) int {
	if i := strings.IndexByte(key, '{'); i >= 0 {
		if j := strings.IndexByte(key[i+1:], '}'); j > 0 {
			key = key[i+1 : i+1+j]
		}
	}
	return int(crc16(key)) % SlotCount
}

// crc16 is CRC-16/XMODEM, the checksum Redis Cluster hashes keys with.
func crc16(s string) uint16 {
	var crc uint16
	for i := 0; i < len(s); i++ {
		crc ^= uint16(s[i]) << 8
		for range 8 {
			if crc&0x8000 != 0 {
				crc = crc<<1 ^ 0x1021
			} else {
				crc <<= 1
			}
		}
	}
	return crc
}

// Shards groups streams that one XREADGROUP can read together: all of them
// on one Redis, those of one hash slot on a Redis Cluster (a command there
// names keys of one slot only). The order of streams is kept.
func Shards(rdb redis.UniversalClient, streams []string) [][]string {
	if _, cluster := rdb.(*redis.ClusterClient); !cluster {
		if len(streams) == 0 {
			return nil
		}
		return [][]string{streams}
	}
	var out [][]string
	index := map[int]int{}
	for _, s := range streams {
		slot := Slot(s)
		i, ok := index[slot]
		if !ok {
			i = len(out)
			index[slot] = i
			out = append(out, nil)
		}
		out[i] = append(out[i], s)
	}
	return out
}

// readerClient returns the client blocking reads of shards go through. On
// one Redis that is rdb itself (one blocked connection). On a cluster each
// shard's reader holds a connection while it blocks, so the readers get a
// client of their own, with a pool as large as the shards: they never take
// the connections handlers need. The returned func releases it.
func readerClient(rdb redis.UniversalClient, shards int) (redis.UniversalClient, func()) {
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
