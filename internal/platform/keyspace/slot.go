// Package keyspace knows how keys spread over a Redis Cluster: the hash slot
// of a key, and how to walk or delete the keys of a pattern master by master
// (one Redis is one master), with no multi-key command across slots.
package keyspace

import (
	"strings"

	"github.com/redis/go-redis/v9"
)

// Count is the number of hash slots of a Redis Cluster.
const Count = 16384

// Slot is the hash slot of a key: CRC16 of the key, or of its hash tag
// (the part between the first "{" and the next "}", when not empty),
// modulo Count, as Redis Cluster computes it.
func Slot(key string) int {
	if i := strings.IndexByte(key, '{'); i >= 0 {
		if j := strings.IndexByte(key[i+1:], '}'); j > 0 {
			key = key[i+1 : i+1+j]
		}
	}
	return int(crc16(key)) % Count
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

// Groups groups the indexes of keys that one command or script can name
// together: all of them on one Redis, those of one hash slot on a Redis
// Cluster (a command there names keys of one slot only). Order is kept.
func Groups(rdb redis.UniversalClient, keys []string) [][]int {
	if len(keys) == 0 {
		return nil
	}
	if _, cluster := rdb.(*redis.ClusterClient); !cluster {
		all := make([]int, len(keys))
		for i := range all {
			all[i] = i
		}
		return [][]int{all}
	}
	var out [][]int
	index := map[int]int{}
	for i, k := range keys {
		slot := Slot(k)
		g, ok := index[slot]
		if !ok {
			g = len(out)
			index[slot] = g
			out = append(out, nil)
		}
		out[g] = append(out[g], i)
	}
	return out
}
