package config

import (
	"flag"
	"fmt"
	"os"
	"strconv"

	"github.com/ordersaga/ordersaga/activities"
)

// The number of partitions of the key layout (see activities.Layout): env
// ORDERSAGA_PARTITIONS, flag --partitions, default
// activities.DefaultPartitions. It is recorded in Redis when the layout is
// set up; every worker and starter of a deployment must use the same, and
// one that does not refuses to start.

const partitionsEnv = "ORDERSAGA_PARTITIONS"

// partitionsFromEnv reads ORDERSAGA_PARTITIONS; a malformed value is kept
// as -1, for PartitionCount to report.
func partitionsFromEnv() int {
	v := os.Getenv(partitionsEnv)
	if v == "" {
		return activities.DefaultPartitions
	}
	n, err := strconv.Atoi(v)
	if err != nil {
		return -1
	}
	return n
}

func (c *Config) partitionsFlag(fs *flag.FlagSet) {
	fs.IntVar(&c.Partitions, "partitions", c.Partitions,
		fmt.Sprintf("partitions of the key layout, the same for every process of a deployment (env %s)", partitionsEnv))
}

// PartitionCount returns the configured number of partitions, or why it
// is not one.
func (c *Config) PartitionCount() (int, error) {
	if c.Partitions < 1 || c.Partitions > activities.MaxPartitions {
		return 0, fmt.Errorf("bad --partitions or %s: want a whole number from 1 to %d (default %d)",
			partitionsEnv, activities.MaxPartitions, activities.DefaultPartitions)
	}
	return c.Partitions, nil
}
