package testenv

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

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
// ends. (Restart is not supported on it.)
func StartRedisACL(tb testing.TB, appPassword, adminPassword string, extra ...string) *RedisACLServer {
	tb.Helper()
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		Missing(tb, "redis-server (apt-get install -y redis-server)")
	}
	acl, err := RenderRedisACL(appPassword, adminPassword)
	if err != nil {
		tb.Fatal(err)
	}
	s := &RedisServer{Dir: tb.TempDir(), tb: tb}
	aclPath := filepath.Join(s.Dir, "users.acl")
	if err := os.WriteFile(aclPath, []byte(acl), 0o600); err != nil {
		tb.Fatal(err)
	}
	s.Args = append([]string{"--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--dir", s.Dir, "--aclfile", aclPath}, extra...)
	tb.Cleanup(s.Stop)
	for range 5 {
		if err = startAuthed(s, bin, FreePort(tb), adminPassword); err == nil {
			return &RedisACLServer{RedisServer: s, AppPassword: appPassword, AdminPassword: adminPassword}
		}
	}
	tb.Fatalf("start redis-server with the ACL file: %v", err)
	return nil
}

// startAuthed starts s on port and waits until it answers the admin user.
func startAuthed(s *RedisServer, bin string, port int, adminPassword string) error {
	s.Addr = net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
	s.cmd = exec.Command(bin, append([]string{"--port", strconv.Itoa(port)}, s.Args...)...)
	if err := s.cmd.Start(); err != nil {
		return err
	}
	exited := make(chan struct{})
	cmd := s.cmd
	go func() { _ = cmd.Wait(); close(exited) }()
	s.exited = exited
	c := redis.NewClient(&redis.Options{Addr: s.Addr, Password: adminPassword})
	defer c.Close()
	return waitOwnRedis(s, c, exited)
}

// waitOwnRedis waits until c answers and is s's server (its dir is s.Dir).
func waitOwnRedis(s *RedisServer, c *redis.Client, exited <-chan struct{}) error {
	deadline := time.Now().Add(10 * time.Second)
	for {
		select {
		case <-exited:
			s.cmd = nil
			return fmt.Errorf("redis-server on %s exited at start (port taken, or a bad ACL file?)", s.Addr)
		default:
		}
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		dir, err := c.ConfigGet(ctx, "dir").Result()
		cancel()
		if err == nil {
			if want, _ := filepath.EvalSymlinks(s.Dir); dir["dir"] != s.Dir && dir["dir"] != want {
				s.Stop()
				return fmt.Errorf("%s answered with another server (dir %s)", s.Addr, dir["dir"])
			}
			return nil
		}
		if time.Now().After(deadline) {
			s.Stop()
			return fmt.Errorf("redis-server on %s did not answer: %v", s.Addr, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
