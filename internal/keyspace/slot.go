// Package keyspace knows how keys spread over a Redis Cluster: the hash slot
// of a key, and how to walk or delete the keys of a pattern master by master
// (one Redis is one master), with no multi-key command across slots.
package keyspace

import "strings"

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
