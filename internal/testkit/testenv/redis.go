package testenv

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/ordersaga/ordersaga/internal/platform/poll"
)

// RedisServer is a redis-server process started by LaunchRedis: for one
// test (StartRedis) or for a whole test binary (StartRedisProcess).
type RedisServer struct {
	Addr string
	// Dir is the server's working directory: its RDB, AOF and cluster files.
	Dir string
	// Args are the arguments after --port.
	Args []string

	bin      string
	ownsDir  bool
	password string // the default user's, when the server has an ACL
	cmd      *exec.Cmd
	exited   chan struct{}
	tb       testing.TB
}

// RedisProcess is a redis-server started for a whole test binary.
type RedisProcess = RedisServer

// RedisOptions tune LaunchRedis.
type RedisOptions struct {
	// Dir is the data directory; a new temporary one, removed by Stop, when empty.
	Dir string
	// Args are extra arguments, e.g. "--appendonly", "yes".
	Args []string
	// Port is the port to listen on; a free one when 0.
	Port int
	// ACL, when set, is an ACL file's content (see RenderRedisACL) the server
	// loads, and AdminPassword the default user's password in it.
	ACL, AdminPassword string
}

// RedisBinary finds redis-server, or returns an error wrapping ErrMissing.
func RedisBinary() (string, error) {
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		return "", fmt.Errorf("redis-server (apt-get install -y redis-server) %w", ErrMissing)
	}
	return bin, nil
}

// LaunchRedis starts a redis-server on 127.0.0.1 with no persistence unless
// opts.Args ask for it, and waits until it answers as itself (not another
// server that took the port). A port taken meanwhile is replaced by another
// free one. The caller stops it with Stop.
func LaunchRedis(opts RedisOptions) (*RedisServer, error) {
	bin, err := RedisBinary()
	if err != nil {
		return nil, err
	}
	s := &RedisServer{Dir: opts.Dir, bin: bin, password: opts.AdminPassword}
	if s.Dir == "" {
		if s.Dir, err = os.MkdirTemp("", "ordersaga-redis-"); err != nil {
			return nil, fmt.Errorf("redis data dir: %w", err)
		}
		s.ownsDir = true
	}
	s.Args = []string{"--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--dir", s.Dir}
	if opts.ACL != "" {
		path := filepath.Join(s.Dir, "users.acl")
		if err := os.WriteFile(path, []byte(opts.ACL), 0o600); err != nil {
			s.Stop()
			return nil, fmt.Errorf("write the ACL file: %w", err)
		}
		s.Args = append(s.Args, "--aclfile", path)
	}
	s.Args = append(s.Args, opts.Args...)
	for range 5 {
		port := opts.Port
		if port == 0 {
			if port, err = FreePortErr(); err != nil {
				break
			}
		}
		if err = s.start(port); err == nil || opts.Port != 0 {
			break
		}
	}
	if err != nil {
		s.Stop()
		return nil, fmt.Errorf("start redis-server: %w", err)
	}
	return s, nil
}

// StartRedis starts a redis-server for one test (see LaunchRedis) and stops
// it when the test ends. A missing redis-server skips the test, or fails it
// under CI=true.
func StartRedis(tb testing.TB, extra ...string) *RedisServer {
	tb.Helper()
	s, err := LaunchRedis(RedisOptions{Dir: tb.TempDir(), Args: extra})
	if err != nil {
		MissingErr(tb, err)
	}
	s.tb = tb
	tb.Cleanup(s.Stop)
	return s
}

// StartRedisProcess starts a redis-server for a whole test binary (see
// LaunchRedis); the caller stops it with Stop, which removes its data.
func StartRedisProcess(extra ...string) (*RedisServer, error) {
	return LaunchRedis(RedisOptions{Args: extra})
}

// URL is the server's redis:// URL.
func (s *RedisServer) URL() string { return "redis://" + s.Addr + "/0" }

// Client returns a new client to the server (as the default user), closed
// when the test ends (for a server of a whole test binary, by the caller).
func (s *RedisServer) Client() *redis.Client {
	c := redis.NewClient(&redis.Options{Addr: s.Addr, Password: s.password})
	if s.tb != nil {
		s.tb.Cleanup(func() { _ = c.Close() })
	}
	return c
}

func (s *RedisServer) start(port int) error {
	s.Addr = net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
	cmd := exec.Command(s.bin, append([]string{"--port", strconv.Itoa(port)}, s.Args...)...)
	DieWithParent(cmd)
	if err := cmd.Start(); err != nil {
		return err
	}
	exited := make(chan struct{})
	go func() { _ = cmd.Wait(); close(exited) }()
	s.cmd, s.exited = cmd, exited
	c := redis.NewClient(&redis.Options{Addr: s.Addr, Password: s.password, MaxRetries: -1})
	defer c.Close()
	want, _ := filepath.EvalSymlinks(s.Dir)
	err := poll.For(context.Background(), 10*time.Second, poll.Every(20*time.Millisecond), func(ctx context.Context) (bool, error) {
		select {
		case <-exited:
			return false, fmt.Errorf("redis-server on %s exited at start (port taken?)", s.Addr)
		default:
		}
		dir, err := c.ConfigGet(ctx, "dir").Result()
		if err != nil {
			return false, nil
		}
		if dir["dir"] != s.Dir && dir["dir"] != want {
			return false, fmt.Errorf("another server answered on port %d (dir %s)", port, dir["dir"])
		}
		return true, nil
	})
	if err != nil {
		s.kill()
		return fmt.Errorf("redis-server on %s: %w", s.Addr, err)
	}
	return nil
}

// kill kills the process (SIGKILL) and waits for it to exit.
func (s *RedisServer) kill() {
	if s.cmd == nil || s.cmd.Process == nil {
		return
	}
	_ = s.cmd.Process.Kill()
	<-s.exited
	s.cmd = nil
}

// Stop kills the server (SIGKILL), waits for it to exit and removes its
// data directory when LaunchRedis made it.
func (s *RedisServer) Stop() {
	s.kill()
	if s.ownsDir {
		_ = os.RemoveAll(s.Dir)
		s.ownsDir = false
	}
}

// Kill kills the server (SIGKILL) and keeps its data directory, for Restart.
func (s *RedisServer) Kill() { s.kill() }

// RestartErr starts the server again on the same port and data directory
// (killing it first if it runs): it comes back with what it persisted.
func (s *RedisServer) RestartErr() error {
	s.kill()
	_, port, _ := net.SplitHostPort(s.Addr)
	p, _ := strconv.Atoi(port)
	return s.start(p)
}

// Restart is RestartErr for a server of a test: it fails the test.
func (s *RedisServer) Restart() {
	if err := s.RestartErr(); err != nil {
		if s.tb == nil {
			panic(fmt.Sprintf("restart redis-server: %v", err))
		}
		s.tb.Helper()
		s.tb.Fatalf("restart redis-server: %v", err)
	}
}
