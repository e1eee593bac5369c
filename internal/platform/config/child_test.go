package config_test

import (
	"slices"
	"testing"

	"github.com/ordersaga/ordersaga/internal/platform/config"
)

func TestServiceEnvTakesTheServicesOwnRedisUser(t *testing.T) {
	t.Setenv(config.EnvServiceRedisURLPrefix+"PAYMENT", "redis://ordersaga-payment:p@127.0.0.1:6379/0")
	t.Setenv(config.EnvServiceRedisURLPrefix+"WORKER", "redis://ordersaga-worker:w@127.0.0.1:6379/0")
	c := &config.Config{RedisURL: "redis://starter@127.0.0.1:6379/0", TemporalAddress: "127.0.0.1:7233", Namespace: "default", Partitions: 3}
	for service, want := range map[string]string{
		"payment":       "REDIS_URL=redis://ordersaga-payment:p@127.0.0.1:6379/0",
		"orchestration": "REDIS_URL=redis://ordersaga-worker:w@127.0.0.1:6379/0",
		"shipping":      "REDIS_URL=redis://starter@127.0.0.1:6379/0",
	} {
		env := c.ServiceEnv(service)
		for _, w := range []string{want, "TEMPORAL_ADDRESS=127.0.0.1:7233", "TEMPORAL_NAMESPACE=default", "ORDERSAGA_PARTITIONS=3"} {
			if !slices.Contains(env, w) {
				t.Errorf("%s: %v lacks %s", service, env, w)
			}
		}
	}
	c.RedisClusterURL = "redis://starter@127.0.0.1:7000?addr=127.0.0.1:7001"
	if env := c.ServiceEnv("shipping"); !slices.Contains(env, "REDIS_CLUSTER_URL="+c.RedisClusterURL) {
		t.Errorf("on a cluster: %v", env)
	}
}
