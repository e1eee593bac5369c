package testenv

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"go.temporal.io/api/enums/v1"
	"go.temporal.io/api/operatorservice/v1"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/client"
	tlog "go.temporal.io/sdk/log"
	"google.golang.org/protobuf/types/known/durationpb"
)

// The Temporal backends the orchestration tests run against: the dev
// server (one shard on SQLite) and a Temporal server on PostgreSQL, built
// from the pinned server module (make tools-postgres, .ci/run).
const (
	BackendDev      = "dev"
	BackendPostgres = "postgres"
)

// TemporalBackends lists the backends, the dev server first.
var TemporalBackends = []string{BackendDev, BackendPostgres}

// SearchAttributes are the custom search attributes the project registers
// wherever it starts a Temporal server.
var SearchAttributes = map[string]enums.IndexedValueType{
	"OrderStatus":     enums.INDEXED_VALUE_TYPE_KEYWORD,
	"OrderFailedStep": enums.INDEXED_VALUE_TYPE_KEYWORD,
}

// SearchAttributeFlags register SearchAttributes on `temporal server start-dev`.
var SearchAttributeFlags = []string{
	"--search-attribute", "OrderStatus=Keyword",
	"--search-attribute", "OrderFailedStep=Keyword",
}

// DevServerArgs are the project's flags for `temporal server start-dev`:
// its dynamic config values and its search attributes.
var DevServerArgs = append(slices.Clone(DevServerFlags), SearchAttributeFlags...)

// SearchAttributeQuery is a visibility query on the project's search
// attribute; a server accepts it only once the attribute is registered.
const SearchAttributeQuery = `OrderStatus="COMPENSATED"`

// TemporalCmd is a Temporal server for a test to run as a child process it
// controls (start, SIGKILL, start again on the same data): the binary, its
// arguments and environment, where it listens, and Ready, which waits until
// it serves the namespace with the project's search attributes.
type TemporalCmd struct {
	Backend   string
	Bin       string
	Args      []string
	Env       []string
	Address   string
	Namespace string
	// register creates the namespace and the search attributes, once the
	// server answers (the dev server does both from its flags).
	register func(ctx context.Context, c client.Client) error
}

// NewTemporalCmd prepares backend's server for tb: for the dev server, a
// database file in dir; for PostgreSQL, a PostgreSQL server owned by tb
// with Temporal's databases and schemas. It fails tb (or skips it, outside
// CI) when a binary is missing.
func NewTemporalCmd(tb testing.TB, backend string) *TemporalCmd {
	tb.Helper()
	var (
		c   *TemporalCmd
		err error
	)
	switch backend {
	case BackendDev:
		c, err = devServerCmd(tb.TempDir())
	case BackendPostgres:
		c, err = postgresServerCmd(tb)
	default:
		err = fmt.Errorf("unknown Temporal backend %q (want %s)", backend, strings.Join(TemporalBackends, " or "))
	}
	if err != nil {
		MissingErr(tb, err)
	}
	return c
}

// devServerCmd is the dev server with its database in dir, or in memory
// when dir is "".
func devServerCmd(dir string) (*TemporalCmd, error) {
	bin, err := TemporalBinary()
	if err != nil {
		return nil, fmt.Errorf("the Temporal CLI (.bin/temporal; .ci/run builds it) %w", ErrMissing)
	}
	ports, err := freePorts(3)
	if err != nil {
		return nil, err
	}
	args := []string{"server", "start-dev", "--headless", "--ip", "127.0.0.1",
		"--port", strconv.Itoa(ports[0]), "--http-port", strconv.Itoa(ports[1]), "--metrics-port", strconv.Itoa(ports[2]), "--log-level", "error"}
	if dir != "" {
		args = append(args, "--db-filename", filepath.Join(dir, "temporal.db"))
	}
	args = append(args, DevServerArgs...)
	return &TemporalCmd{Backend: BackendDev, Bin: bin, Args: args,
		Address: net.JoinHostPort("127.0.0.1", strconv.Itoa(ports[0])), Namespace: "default"}, nil
}

// Ready waits until the server answers, registers the namespace and the
// search attributes when the backend needs it, and waits until a
// visibility query on them is accepted. It returns a client to the
// namespace, which the caller closes.
func (c *TemporalCmd) Ready(ctx context.Context) (client.Client, error) {
	quiet := tlog.NewStructuredLogger(slog.New(slog.NewTextHandler(io.Discard, nil)))
	var (
		tc  client.Client
		err error
	)
	for {
		dctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		tc, err = client.DialContext(dctx, client.Options{HostPort: c.Address, Namespace: c.Namespace, Logger: quiet})
		cancel()
		if err == nil {
			break
		}
		if ctx.Err() != nil {
			return nil, fmt.Errorf("%s Temporal server at %s did not answer: %w", c.Backend, c.Address, err)
		}
		time.Sleep(200 * time.Millisecond)
	}
	if c.register != nil {
		if err := retry(ctx, func() error { return c.register(ctx, tc) }); err != nil {
			tc.Close()
			return nil, fmt.Errorf("%s Temporal server: register namespace and search attributes: %w", c.Backend, err)
		}
	}
	err = retry(ctx, func() error {
		_, err := tc.ListWorkflow(ctx, &workflowservice.ListWorkflowExecutionsRequest{Namespace: c.Namespace, Query: SearchAttributeQuery})
		return err
	})
	if err != nil {
		tc.Close()
		return nil, fmt.Errorf("%s Temporal server: query %s: %w", c.Backend, SearchAttributeQuery, err)
	}
	return tc, nil
}

func retry(ctx context.Context, f func() error) error {
	for {
		err := f()
		if err == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return err
		case <-time.After(250 * time.Millisecond):
		}
	}
}

// registerNamespace creates the namespace (if missing) and the project's
// search attributes in it (if missing).
func registerNamespace(ctx context.Context, tc client.Client, namespace string) error {
	_, err := tc.WorkflowService().RegisterNamespace(ctx, &workflowservice.RegisterNamespaceRequest{
		Namespace:                        namespace,
		WorkflowExecutionRetentionPeriod: durationpb.New(72 * time.Hour),
	})
	var exists *serviceerror.NamespaceAlreadyExists
	if err != nil && !errors.As(err, &exists) {
		return err
	}
	have, err := tc.OperatorService().ListSearchAttributes(ctx, &operatorservice.ListSearchAttributesRequest{Namespace: namespace})
	if err != nil {
		return err
	}
	missing := map[string]enums.IndexedValueType{}
	for name, typ := range SearchAttributes {
		if _, ok := have.GetCustomAttributes()[name]; !ok {
			missing[name] = typ
		}
	}
	if len(missing) == 0 {
		return nil
	}
	_, err = tc.OperatorService().AddSearchAttributes(ctx, &operatorservice.AddSearchAttributesRequest{Namespace: namespace, SearchAttributes: missing})
	return err
}

// RunningTemporal is a Temporal server a test started and owns.
type RunningTemporal struct {
	*TemporalCmd
	cmd  *exec.Cmd
	done chan struct{}
}

// StartTemporalBackend starts backend's server as a child process, waits
// until it is ready and stops it when the test ends.
func StartTemporalBackend(tb testing.TB, backend string) *RunningTemporal {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	r, err := NewTemporalCmd(tb, backend).Launch(ctx)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(r.stop)
	return r
}

// Launch starts c's server as a child process (killed if the test process
// dies, see DieWithParent) and waits until it is Ready; the caller stops
// it with Stop.
func (c *TemporalCmd) Launch(ctx context.Context) (*RunningTemporal, error) {
	r := &RunningTemporal{TemporalCmd: c}
	log := &SyncBuffer{}
	r.cmd = exec.Command(c.Bin, c.Args...)
	r.cmd.Env = append(os.Environ(), c.Env...)
	r.cmd.Stdout, r.cmd.Stderr = log, log
	DieWithParent(r.cmd)
	if err := r.cmd.Start(); err != nil {
		return nil, fmt.Errorf("start the %s Temporal server: %w", c.Backend, err)
	}
	r.done = make(chan struct{})
	go func() { _ = r.cmd.Wait(); close(r.done) }()
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	go func() {
		select {
		case <-r.done: // it exited: stop waiting for it
			cancel()
		case <-ctx.Done():
		}
	}()
	tc, err := c.Ready(ctx)
	if err != nil {
		r.stop()
		return nil, fmt.Errorf("%w\n--- server log (end):\n%s", err, log.Tail(4096))
	}
	tc.Close()
	return r, nil
}

// Stop kills the server (SIGKILL) and waits for it to exit.
func (r *RunningTemporal) Stop() error {
	r.stop()
	return nil
}

func (r *RunningTemporal) stop() {
	_ = r.cmd.Process.Signal(syscall.SIGKILL)
	<-r.done
}

// freePorts returns n distinct free TCP ports on 127.0.0.1 below 32768:
// the Temporal server records its services' ports in a SMALLINT column
// (cluster_membership), which the ephemeral range overflows.
func freePorts(n int) ([]int, error) {
	var ls []net.Listener
	defer func() {
		for _, l := range ls {
			_ = l.Close()
		}
	}()
	ports := make([]int, 0, n)
	for tries := 0; len(ports) < n; tries++ {
		if tries > 1000 {
			return nil, fmt.Errorf("find %d free ports below 32768: none left", n)
		}
		port := 20000 + rand.IntN(12000)
		l, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)))
		if err != nil {
			continue
		}
		// Held open until all are found, so the n ports differ.
		ls = append(ls, l)
		ports = append(ports, port)
	}
	return ports, nil
}

// RepoBinary finds a binary the Makefile builds into .bin/ (name), or the
// same name on the PATH.
func RepoBinary(name string) (string, error) {
	if p := filepath.Join(RepoRoot(), ".bin", name); fileExists(p) {
		return p, nil
	}
	return exec.LookPath(name)
}

// postgresUser is who runs PostgreSQL: it refuses to run as root, so a
// root test runs it as the system's "postgres" user.
func postgresUser() (*syscall.Credential, error) {
	if os.Geteuid() != 0 {
		return nil, nil
	}
	u, err := user.Lookup("postgres")
	if err != nil {
		return nil, fmt.Errorf("PostgreSQL will not run as root, and there is no postgres user (apt-get install -y postgresql) %w", ErrMissing)
	}
	uid, _ := strconv.Atoi(u.Uid)
	gid, _ := strconv.Atoi(u.Gid)
	return &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}, nil
}

// PostgresBinDir finds PostgreSQL's server programs (initdb, postgres,
// psql): $PG_BINDIR, else the newest /usr/lib/postgresql/*/bin (Debian),
// else the PATH.
func PostgresBinDir() (string, error) {
	if d := os.Getenv("PG_BINDIR"); d != "" {
		return d, nil
	}
	dirs, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	slices.SortFunc(dirs, func(a, b string) int {
		va, _ := strconv.Atoi(filepath.Base(filepath.Dir(a)))
		vb, _ := strconv.Atoi(filepath.Base(filepath.Dir(b)))
		return vb - va
	})
	for _, d := range dirs {
		if fileExists(filepath.Join(d, "postgres")) {
			return d, nil
		}
	}
	if p, err := exec.LookPath("initdb"); err == nil {
		return filepath.Dir(p), nil
	}
	return "", fmt.Errorf("PostgreSQL (apt-get install -y postgresql) %w", ErrMissing)
}
