package config

import (
	"flag"
	"fmt"
	"os"
	"strconv"

	"github.com/ordersaga/ordersaga/internal/platform/keyspace"
)

// The number of partitions of the key layout (see keyspace.Layout): env
// ORDERSAGA_PARTITIONS, flag --partitions; unset or 0 takes the number
// recorded in Redis, or when none is, activities.DefaultPartitionsFor the
// deployment (1 on one Redis, 12 on a cluster). It is recorded in Redis
// when the layout is set up; every worker and starter of a deployment must
// use the same, and one that does not refuses to start.

const partitionsEnv = "ORDERSAGA_PARTITIONS"

// partitionsFromEnv reads ORDERSAGA_PARTITIONS; a malformed value is kept
// as -1, for PartitionCount to report.
func partitionsFromEnv() int {
	v := os.Getenv(partitionsEnv)
	if v == "" {
		return 0
	}
	n, err := strconv.Atoi(v)
	if err != nil {
		return -1
	}
	return n
}

func (c *Config) partitionsFlag(fs *flag.FlagSet) {
	fs.IntVar(&c.Partitions, "partitions", c.Partitions,
		fmt.Sprintf("partitions of the key layout, the same for every process of a deployment (env %s; "+
			"default: the number recorded in Redis, or 1 on one Redis and %d on a cluster)", partitionsEnv, keyspace.DefaultPartitions))
}

// PartitionCount returns the configured number of partitions, 0 when none
// is (the recorded one, else the deployment's default), or why it is not one.
func (c *Config) PartitionCount() (int, error) {
	if c.Partitions < 0 || c.Partitions > keyspace.MaxPartitions {
		return 0, fmt.Errorf("bad --partitions or %s: want a whole number from 1 to %d (unset: the number recorded in Redis, or 1 on one Redis and %d on a cluster)",
			partitionsEnv, keyspace.MaxPartitions, keyspace.DefaultPartitions)
	}
	return c.Partitions, nil
}
