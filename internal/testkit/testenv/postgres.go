package testenv

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"go.temporal.io/sdk/client"
)

// Postgres is a PostgreSQL server owned by a test: a fresh cluster
// (initdb) in a temporary directory, listening on 127.0.0.1 on a free
// port, with a login role for Temporal.
type Postgres struct {
	Dir  string
	Addr string
	Port int
	// User and Password are Temporal's login role.
	User, Password string

	bindir string
	cred   *syscall.Credential
	cmd    *exec.Cmd
	done   chan struct{}
}

// StartPostgres starts PostgreSQL for tb and stops it when the test ends.
func StartPostgres(tb testing.TB) *Postgres {
	tb.Helper()
	p, err := startPostgres()
	if p != nil {
		tb.Cleanup(p.Stop)
	}
	if err != nil {
		MissingErr(tb, err)
	}
	return p
}

func startPostgres() (*Postgres, error) {
	bindir, err := PostgresBinDir()
	if err != nil {
		return nil, err
	}
	cred, err := postgresUser()
	if err != nil {
		return nil, err
	}
	// Not t.TempDir: its parents are private to root, and PostgreSQL runs
	// as another user.
	dir, err := os.MkdirTemp("", "ordersaga-pg-")
	if err != nil {
		return nil, err
	}
	p := &Postgres{Dir: dir, User: "temporal", Password: "temporal-test-" + strconv.Itoa(os.Getpid()), bindir: bindir, cred: cred}
	if err := os.Chmod(dir, 0o755); err != nil {
		return p, err
	}
	data := filepath.Join(dir, "data")
	if err := os.Mkdir(data, 0o700); err != nil {
		return p, err
	}
	if cred != nil {
		if err := os.Chown(data, int(cred.Uid), int(cred.Gid)); err != nil {
			return p, err
		}
	}
	if out, err := p.run("initdb", "-D", data, "-U", "postgres", "--auth-local=trust", "--auth-host=scram-sha-256", "-E", "UTF8", "--no-sync"); err != nil {
		return p, fmt.Errorf("initdb: %v\n%s", err, out)
	}
	for range 5 {
		if err = p.start(data); err == nil {
			break
		}
	}
	if err != nil {
		return p, err
	}
	sql := fmt.Sprintf("CREATE ROLE %s LOGIN CREATEDB PASSWORD '%s';", p.User, p.Password)
	if out, err := p.psql(sql); err != nil {
		return p, fmt.Errorf("create role: %v\n%s", err, out)
	}
	return p, nil
}

// start runs postgres on a free port; durability is traded for speed (no
// fsync): a test kills the Temporal server, never PostgreSQL.
func (p *Postgres) start(data string) error {
	port, err := FreePortErr()
	if err != nil {
		return err
	}
	p.Port, p.Addr = port, net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
	p.cmd = exec.Command(filepath.Join(p.bindir, "postgres"), "-D", data, "-p", strconv.Itoa(port), "-k", data,
		"-c", "listen_addresses=127.0.0.1", "-c", "max_connections=300", "-c", "fsync=off",
		"-c", "synchronous_commit=off", "-c", "full_page_writes=off")
	p.cmd.Stdout, p.cmd.Stderr = nil, nil
	p.cmd.SysProcAttr = &syscall.SysProcAttr{Credential: p.cred}
	DieWithParent(p.cmd)
	if err := p.cmd.Start(); err != nil {
		return fmt.Errorf("start postgres: %w", err)
	}
	p.done = make(chan struct{})
	cmd, done := p.cmd, p.done
	go func() { _ = cmd.Wait(); close(done) }()
	deadline := time.Now().Add(30 * time.Second)
	for {
		select {
		case <-done:
			p.cmd = nil
			return fmt.Errorf("postgres on port %d exited at start (port taken?)", port)
		default:
		}
		if out, err := p.run("pg_isready", "-h", "127.0.0.1", "-p", strconv.Itoa(port), "-q"); err == nil {
			return nil
		} else if time.Now().After(deadline) {
			p.Stop()
			return fmt.Errorf("postgres on port %d is not ready: %v %s", port, err, out)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// run runs one of PostgreSQL's programs as the PostgreSQL user.
func (p *Postgres) run(prog string, args ...string) ([]byte, error) {
	cmd := exec.Command(filepath.Join(p.bindir, prog), args...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: p.cred}
	cmd.Dir = p.Dir
	return cmd.CombinedOutput()
}

// psql runs SQL as the superuser over the data directory's socket.
func (p *Postgres) psql(sql string) ([]byte, error) {
	cmd := exec.Command(filepath.Join(p.bindir, "psql"), "-q", "-v", "ON_ERROR_STOP=1",
		"-h", filepath.Join(p.Dir, "data"), "-p", strconv.Itoa(p.Port), "-U", "postgres", "-d", "postgres")
	cmd.Stdin = strings.NewReader(sql)
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: p.cred}
	return cmd.CombinedOutput()
}

// Stop shuts PostgreSQL down (immediate) and removes its directory.
func (p *Postgres) Stop() {
	if p.cmd != nil && p.cmd.Process != nil {
		_ = p.cmd.Process.Signal(syscall.SIGQUIT)
		select {
		case <-p.done:
		case <-time.After(10 * time.Second):
			_ = p.cmd.Process.Kill()
			<-p.done
		}
		p.cmd = nil
	}
	if p.Dir != "" {
		_ = os.RemoveAll(p.Dir)
	}
}

// postgresServerCmd starts PostgreSQL for tb, applies Temporal's schemas
// with the pinned SQL tool (deploy/temporal/setup-schema.sh, as make up and
// Compose do) and returns the command that runs the pinned Temporal server
// on it with the repository's config template and dynamic config.
func postgresServerCmd(tb testing.TB) (*TemporalCmd, error) {
	tb.Helper()
	server, err := RepoBinary("temporal-server")
	if err != nil {
		return nil, fmt.Errorf("the Temporal server (.bin/temporal-server; make tools-postgres builds it) %w", ErrMissing)
	}
	sqlTool, err := RepoBinary("temporal-sql-tool")
	if err != nil {
		return nil, fmt.Errorf("the Temporal SQL tool (.bin/temporal-sql-tool; make tools-postgres builds it) %w", ErrMissing)
	}
	pg := StartPostgres(tb)
	deploy := filepath.Join(RepoRoot(), "deploy", "temporal")
	schema := exec.Command("sh", filepath.Join(deploy, "setup-schema.sh"))
	schema.Env = append(os.Environ(), "TEMPORAL_SQL_TOOL="+sqlTool, "SQL_HOST=127.0.0.1", "SQL_PORT="+strconv.Itoa(pg.Port),
		"SQL_USER="+pg.User, "SQL_PASSWORD="+pg.Password)
	if out, err := schema.CombinedOutput(); err != nil {
		return nil, fmt.Errorf("setup-schema.sh: %v\n%s", err, out)
	}
	ports, err := freePorts(9)
	if err != nil {
		return nil, err
	}
	env := []string{
		"TEMPORAL_PG_HOST=127.0.0.1", "TEMPORAL_PG_PORT=" + strconv.Itoa(pg.Port),
		"TEMPORAL_PG_USER=" + pg.User, "TEMPORAL_PG_PASSWORD=" + pg.Password,
		"TEMPORAL_DYNAMIC_CONFIG=" + filepath.Join(deploy, "dynamicconfig.yaml"),
		"TEMPORAL_LOG_LEVEL=error", "TEMPORAL_HISTORY_SHARDS=4",
	}
	for i, name := range []string{"PORT", "HTTP_PORT", "HISTORY_PORT", "MATCHING_PORT", "WORKER_PORT",
		"FRONTEND_MEMBERSHIP_PORT", "HISTORY_MEMBERSHIP_PORT", "MATCHING_MEMBERSHIP_PORT", "WORKER_MEMBERSHIP_PORT"} {
		env = append(env, "TEMPORAL_"+name+"="+strconv.Itoa(ports[i]))
	}
	c := &TemporalCmd{
		Backend: BackendPostgres,
		Bin:     server,
		Args:    []string{"--root", deploy, "--config", "config", "--env", "ordersaga", "--allow-no-auth", "start"},
		Env:     env,
		Address: net.JoinHostPort("127.0.0.1", strconv.Itoa(ports[0])),
		// The namespace is the project's default one.
		Namespace: "default",
	}
	c.register = func(ctx context.Context, tc client.Client) error { return registerNamespace(ctx, tc, c.Namespace) }
	return c, nil
}
