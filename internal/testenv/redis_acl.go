package testenv

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/redis/go-redis/v9"
)

// RedisACLFile is the repository's one Redis ACL file (a template): make
// up, Compose and the tests all load it.
const RedisACLFile = "deploy/redis/users.acl"

// RedisAppUser is the ACL user the worker and the starter run as.
const RedisAppUser = "ordersaga"

// RenderRedisACL renders RedisACLFile for redis-server's aclfile setting:
// comment lines dropped, the passwords' SHA-256 filled in.
func RenderRedisACL(appPassword, adminPassword string) (string, error) {
	b, err := os.ReadFile(filepath.Join(RepoRoot(), RedisACLFile))
	if err != nil {
		return "", err
	}
	r := strings.NewReplacer(
		"${REDIS_PASSWORD_SHA256}", sha256Hex(appPassword),
		"${REDIS_ADMIN_PASSWORD_SHA256}", sha256Hex(adminPassword),
	)
	var out []string
	for _, line := range strings.Split(string(b), "\n") {
		if t := strings.TrimSpace(line); t == "" || strings.HasPrefix(t, "#") {
			continue
		}
		out = append(out, r.Replace(line))
	}
	if s := strings.Join(out, "\n"); strings.Contains(s, "${") {
		return "", fmt.Errorf("%s: unknown placeholder left in %q", RedisACLFile, s)
	}
	return strings.Join(out, "\n") + "\n", nil
}

func sha256Hex(s string) string {
	h := sha256.Sum256([]byte(s))
	return hex.EncodeToString(h[:])
}

// RedisACLServer is a redis-server that loads the project's ACL file.
type RedisACLServer struct {
	*RedisServer
	AppPassword, AdminPassword string
}

// AppURL is the redis:// URL of the limited application user.
func (s *RedisACLServer) AppURL() string {
	return (&url.URL{Scheme: "redis", User: url.UserPassword(RedisAppUser, s.AppPassword), Host: s.Addr, Path: "/0"}).String()
}

// AppClient is a client logged in as the application user.
func (s *RedisACLServer) AppClient() *redis.Client {
	c := redis.NewClient(&redis.Options{Addr: s.Addr, Username: RedisAppUser, Password: s.AppPassword})
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
// project's ACL file with the given passwords, and stops it when the test
// ends.
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
