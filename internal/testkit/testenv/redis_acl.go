package testenv

import (
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/redis/go-redis/v9"
)

// RedisACLFile is the repository's one Redis ACL file (a template): make
// up, Compose and the tests all load it, rendered by RedisACLRenderer.
const (
	RedisACLFile     = "deploy/redis/users.acl"
	RedisACLRenderer = "deploy/redis/render-acl.sh"
)

// The Redis users of RedisACLFile: one per process (docs/operations.md).
const (
	RedisOrderUser     = "ordersaga-order"
	RedisInventoryUser = "ordersaga-inventory"
	RedisFraudUser     = "ordersaga-fraud"
	RedisPaymentUser   = "ordersaga-payment"
	RedisShippingUser  = "ordersaga-shipping"
	RedisNotifyUser    = "ordersaga-notify"
	RedisWorkerUser    = "ordersaga-worker"
	RedisStarterUser   = "ordersaga-starter"
	RedisWebUser       = "ordersaga-web"
	RedisExporterUser  = "ordersaga-exporter"
)

// RedisAppUser is the user of code under test that drives every part of
// the saga in one process (engines, services, bench, reset): the starter's.
const RedisAppUser = RedisStarterUser

// RedisUsers maps what a process runs to its user: each choreography
// service and "orchestration" (worker --services), "starter", "web" and
// "exporter" (redis_exporter, for Prometheus).
var RedisUsers = map[string]string{
	"order": RedisOrderUser, "inventory": RedisInventoryUser, "fraud": RedisFraudUser, "payment": RedisPaymentUser,
	"shipping": RedisShippingUser, "notify": RedisNotifyUser, "orchestration": RedisWorkerUser, "starter": RedisStarterUser, "web": RedisWebUser,
	"exporter": RedisExporterUser,
}

// RedisPassword is user's password on a server whose ACL was rendered
// with appPassword: appPassword itself for the starter's user, else
// appPassword followed by "-" and the user's own part, e.g.
// "secret-payment" for ordersaga-payment.
func RedisPassword(appPassword, user string) string {
	if user == RedisStarterUser {
		return appPassword
	}
	return appPassword + "-" + strings.TrimPrefix(user, "ordersaga-")
}

// RenderRedisACL renders RedisACLFile for redis-server's aclfile setting
// with RedisACLRenderer, as make up and Compose do: every user's password
// (see RedisPassword) as its SHA-256, adminPassword for the default user.
func RenderRedisACL(appPassword, adminPassword string) (string, error) {
	root := RepoRoot()
	cmd := exec.Command("sh", filepath.Join(root, RedisACLRenderer), filepath.Join(root, RedisACLFile))
	cmd.Env = append(os.Environ(), "REDIS_ADMIN_PASSWORD="+adminPassword)
	for _, user := range RedisUsers {
		name := strings.ToUpper(strings.TrimPrefix(user, "ordersaga-"))
		cmd.Env = append(cmd.Env, "REDIS_"+name+"_PASSWORD="+RedisPassword(appPassword, user))
	}
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return "", fmt.Errorf("render %s: %v: %s", RedisACLFile, err, strings.TrimSpace(stderr.String()))
	}
	return string(out), nil
}

// RedisACLServer is a redis-server that loads the project's ACL file.
type RedisACLServer struct {
	*RedisServer
	AppPassword, AdminPassword string
}

// AppURL is the redis:// URL of the starter's user (RedisAppUser).
func (s *RedisACLServer) AppURL() string { return s.URLAs(RedisAppUser) }

// URLAs is the redis:// URL of one of the application's users.
func (s *RedisACLServer) URLAs(user string) string {
	return (&url.URL{Scheme: "redis", User: url.UserPassword(user, RedisPassword(s.AppPassword, user)), Host: s.Addr, Path: "/0"}).String()
}

// AppClient is a client logged in as the starter's user (RedisAppUser).
func (s *RedisACLServer) AppClient() *redis.Client { return s.ClientAs(RedisAppUser) }

// ClientAs is a client logged in as one of the application's users.
func (s *RedisACLServer) ClientAs(user string) *redis.Client {
	c := redis.NewClient(&redis.Options{Addr: s.Addr, Username: user, Password: RedisPassword(s.AppPassword, user)})
	s.tb.Cleanup(func() { _ = c.Close() })
	return c
}

// AdminClient is a client logged in as the administration user (default).
func (s *RedisACLServer) AdminClient() *redis.Client {
	c := redis.NewClient(&redis.Options{Addr: s.Addr, Password: s.AdminPassword})
	s.tb.Cleanup(func() { _ = c.Close() })
	return c
}

// StartRedisACL starts a redis-server on a free port that loads the
// project's ACL file with the given passwords (see RedisPassword), and
// stops it when the test ends.
func StartRedisACL(tb testing.TB, appPassword, adminPassword string, extra ...string) *RedisACLServer {
	tb.Helper()
	acl, err := RenderRedisACL(appPassword, adminPassword)
	if err != nil {
		tb.Fatal(err)
	}
	s, err := LaunchRedis(RedisOptions{Dir: tb.TempDir(), Args: extra, ACL: acl, AdminPassword: adminPassword})
	if err != nil {
		MissingErr(tb, err)
	}
	s.tb = tb
	tb.Cleanup(s.Stop)
	return &RedisACLServer{RedisServer: s, AppPassword: appPassword, AdminPassword: adminPassword}
}
