package config

import (
	"os"
	"strconv"
	"strings"
)

// EnvServiceRedisURLPrefix names the variable that holds a worker
// process's own Redis URL (its own user), by its name in upper case:
// ORDERSAGA_REDIS_URL_PAYMENT, ORDERSAGA_REDIS_URL_WORKER for the
// orchestration's worker. make up writes them to .state/env.
const EnvServiceRedisURLPrefix = "ORDERSAGA_REDIS_URL_"

// ServiceEnv is the environment of a worker process that runs service
// ("orchestration" for the orchestration's worker) on the servers c names:
// Redis (with the service's own user when its EnvServiceRedisURLPrefix
// variable is set, else c's URL), the Temporal address and namespace, and
// the partitions when c names them.
func (c *Config) ServiceEnv(service string) []string {
	name := service
	if service == "orchestration" {
		name = "worker"
	}
	redisVar, url := "REDIS_URL", c.RedisURL
	if c.RedisClusterURL != "" {
		redisVar, url = "REDIS_CLUSTER_URL", c.RedisClusterURL
	}
	if own := os.Getenv(EnvServiceRedisURLPrefix + strings.ToUpper(name)); own != "" {
		url = own
	}
	env := []string{redisVar + "=" + url, "TEMPORAL_ADDRESS=" + c.TemporalAddress, "TEMPORAL_NAMESPACE=" + c.Namespace}
	if c.Partitions > 0 {
		env = append(env, partitionsEnv+"="+strconv.Itoa(c.Partitions))
	}
	return env
}
