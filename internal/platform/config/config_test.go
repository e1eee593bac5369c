package config

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/spf13/pflag"
	"go.temporal.io/api/workflowservice/v1"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/metadata"

	"github.com/ordersaga/ordersaga/internal/testkit/testenv"
)

// unsetTemporalEnv clears every variable the Temporal environment
// configuration reads, for the test only.
func unsetTemporalEnv(t *testing.T) {
	t.Helper()
	for _, kv := range os.Environ() {
		k, _, _ := strings.Cut(kv, "=")
		if strings.HasPrefix(k, "TEMPORAL_") || strings.HasPrefix(k, "REDIS_") {
			t.Setenv(k, "")
			_ = os.Unsetenv(k)
		}
	}
	// No temporal.toml of the machine's user.
	t.Setenv("TEMPORAL_CONFIG_FILE", filepath.Join(t.TempDir(), "absent.toml"))
}

// fakeFrontend is a TLS gRPC server that answers the one call a client
// makes when it connects, and records the metadata it was sent.
type fakeFrontend struct {
	workflowservice.UnimplementedWorkflowServiceServer
	mu   sync.Mutex
	auth []string
}

func (f *fakeFrontend) GetSystemInfo(ctx context.Context, _ *workflowservice.GetSystemInfoRequest) (*workflowservice.GetSystemInfoResponse, error) {
	md, _ := metadata.FromIncomingContext(ctx)
	f.mu.Lock()
	f.auth = append(f.auth, md.Get("authorization")...)
	f.mu.Unlock()
	return &workflowservice.GetSystemInfoResponse{ServerVersion: "1.29.1"}, nil
}

// selfSigned writes a CA-less self-signed certificate for name to dir and
// returns the TLS certificate and the PEM file's path.
func selfSigned(t *testing.T, dir, name string) (tls.Certificate, string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: name},
		DNSNames:              []string{name},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(time.Hour),
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		IsCA:                  true,
		BasicConstraintsValid: true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	certPEM := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
	keyDER, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := tls.X509KeyPair(certPEM, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER}))
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "ca.pem")
	if err := os.WriteFile(path, certPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	return cert, path
}

// TestTemporalProfileTLSAndAPIKey loads a temporal.toml profile chosen by
// TEMPORAL_PROFILE, with TLS (a private CA and a server name) and an API
// key, and connects with it to a TLS frontend that checks both.
func TestTemporalProfileTLSAndAPIKey(t *testing.T) {
	unsetTemporalEnv(t)
	dir := t.TempDir()
	const serverName, apiKey = "frontend.ordersaga.test", "key-0123456789-secret"
	cert, caPath := selfSigned(t, dir, serverName)

	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := grpc.NewServer(grpc.Creds(credentials.NewServerTLSFromCert(&cert)))
	front := &fakeFrontend{}
	workflowservice.RegisterWorkflowServiceServer(srv, front)
	go func() { _ = srv.Serve(lis) }()
	defer srv.Stop()

	toml := `[profile.default]
address = "localhost:1"
namespace = "not-this-one"

[profile.cloud]
address = "` + lis.Addr().String() + `"
namespace = "orders-prod"
api_key = "` + apiKey + `"

[profile.cloud.tls]
server_ca_cert_path = "` + caPath + `"
server_name = "` + serverName + `"
`
	file := filepath.Join(dir, "temporal.toml")
	if err := os.WriteFile(file, []byte(toml), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("TEMPORAL_CONFIG_FILE", file)
	t.Setenv("TEMPORAL_PROFILE", "cloud")

	c := FromEnv()
	if c.TemporalAddress != lis.Addr().String() || c.Namespace != "orders-prod" {
		t.Fatalf("address %q namespace %q: want the cloud profile's", c.TemporalAddress, c.Namespace)
	}
	opts, err := c.TemporalOptions(nil)
	if err != nil {
		t.Fatal(err)
	}
	if opts.HostPort != lis.Addr().String() || opts.Namespace != "orders-prod" {
		t.Errorf("options HostPort %q Namespace %q", opts.HostPort, opts.Namespace)
	}
	if opts.Credentials == nil {
		t.Error("no credentials: the API key was dropped")
	}
	if opts.ConnectionOptions.TLS == nil || opts.ConnectionOptions.TLS.ServerName != serverName || opts.ConnectionOptions.TLS.RootCAs == nil {
		t.Fatalf("TLS = %+v, want the profile's CA and server name", opts.ConnectionOptions.TLS)
	}

	tc, err := c.Temporal(context.Background(), nil)
	if err != nil {
		t.Fatalf("connect with the profile: %v", err)
	}
	tc.Close()
	front.mu.Lock()
	defer front.mu.Unlock()
	if len(front.auth) == 0 || front.auth[0] != "Bearer "+apiKey {
		t.Errorf("the frontend saw authorization %q, want the API key as a bearer token", front.auth)
	}
}

func TestTemporalFlagsOverrideProfileAndEnv(t *testing.T) {
	unsetTemporalEnv(t)
	file := filepath.Join(t.TempDir(), "temporal.toml")
	if err := os.WriteFile(file, []byte("[profile.default]\naddress = \"profile:7233\"\nnamespace = \"from-profile\"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("TEMPORAL_CONFIG_FILE", file)
	t.Setenv("TEMPORAL_NAMESPACE", "from-env")

	c := FromEnv()
	if c.TemporalAddress != "profile:7233" || c.Namespace != "from-env" {
		t.Fatalf("address %q namespace %q: want the profile's address, the environment's namespace", c.TemporalAddress, c.Namespace)
	}
	fs := pflag.NewFlagSet("x", pflag.ContinueOnError)
	c.TemporalFlags(fs)
	if err := fs.Parse([]string{"--temporal-address", "flag:7233", "--namespace", "from-flag"}); err != nil {
		t.Fatal(err)
	}
	c.Resolve()
	opts, err := c.TemporalOptions(nil)
	if err != nil {
		t.Fatal(err)
	}
	if opts.HostPort != "flag:7233" || opts.Namespace != "from-flag" {
		t.Errorf("HostPort %q Namespace %q: flags must override", opts.HostPort, opts.Namespace)
	}
	if opts.ConnectionOptions.TLS != nil || opts.Credentials != nil {
		t.Errorf("no TLS and no API key configured, got TLS %v credentials %v", opts.ConnectionOptions.TLS, opts.Credentials)
	}
}

func TestTemporalUnknownProfile(t *testing.T) {
	unsetTemporalEnv(t)
	t.Setenv("TEMPORAL_PROFILE", "nope")
	t.Setenv("TEMPORAL_API_KEY", "key-never-shown-123")
	c := FromEnv()
	_, err := c.Temporal(context.Background(), nil)
	if err == nil || !strings.Contains(err.Error(), "nope") {
		t.Fatalf("err = %v, want one naming the missing profile", err)
	}
	if strings.Contains(err.Error(), "key-never-shown-123") {
		t.Errorf("the error shows the API key: %v", err)
	}
}

func TestRedisURLErrorsHideThePassword(t *testing.T) {
	unsetTemporalEnv(t)
	const pw = "pa55-w0rd-secret"
	bad := []string{
		"redis://:" + pw + "@localhost:notaport/0",
		"redis://app:" + pw + "@localhost:6379/notadb",
		"redis://app:" + pw + "@local host:6379/0",
		"redis://app:" + pw + "%zz@localhost:6379/0",
		"http://app:" + pw + "@localhost:6379/0",
		"redis//app:" + pw + "@localhost:6379/0",
		"redis://app:" + pw + "@localhost:6379/0?bogus=1",
	}
	for _, raw := range bad {
		c := FromEnv()
		c.RedisURL = raw
		_, err := c.Redis(context.Background())
		if err == nil {
			t.Errorf("%s: no error", Redact(raw))
			continue
		}
		if strings.Contains(err.Error(), pw) || strings.Contains(err.Error(), "pa55") {
			t.Errorf("the error for a malformed URL shows the password: %v", err)
		}
		if !strings.Contains(err.Error(), "--redis-url") {
			t.Errorf("the error does not name the setting: %v", err)
		}
		c.RedisURL, c.RedisClusterURL = DefaultRedisURL, raw
		if _, err := c.Redis(context.Background()); err == nil || strings.Contains(err.Error(), "pa55") {
			t.Errorf("cluster URL %s: err = %v", Redact(raw), err)
		}
	}
	// A well-formed URL to nothing: the error names the address, not the password.
	c := FromEnv()
	c.ConnectTimeout = time.Second
	c.RedisURL = "redis://app:" + pw + "@127.0.0.1:1/0"
	_, err := c.Redis(context.Background())
	if !errors.Is(err, ErrUnreachable) || strings.Contains(err.Error(), pw) || !strings.Contains(err.Error(), "127.0.0.1:1") {
		t.Errorf("unreachable Redis: %v", err)
	}
}

func TestRedact(t *testing.T) {
	for in, want := range map[string]string{
		"":                                  "",
		"redis://localhost:6379/0":          "redis://localhost:6379/0",
		"redis://:pw-123@localhost:6379/0":  "redis://:xxxxx@localhost:6379/0",
		"redis://app:pw-123@h:1?addr=h2:2":  "redis://app:xxxxx@h:1?addr=h2:2",
		"redis://app@localhost:6379/0":      "redis://app@localhost:6379/0",
		"redis://app:p@ss/w@rd@h:notaport/": "redis://xxxxx@h:notaport/",
		"app:pw-123@h:1":                    "xxxxx@h:1",
	} {
		if got := Redact(in); got != want {
			t.Errorf("Redact(%q) = %q, want %q", in, got, want)
		}
	}
}

// TestUsageHidesPasswords: a REDIS_URL with a password in the environment
// becomes the flag's default, which --help prints.
func TestUsageHidesPasswords(t *testing.T) {
	unsetTemporalEnv(t)
	t.Setenv("REDIS_URL", "redis://app:usage-secret-1@localhost:6379/0")
	t.Setenv("REDIS_CLUSTER_URL", "redis://app:usage-secret-2@localhost:7001?addr=localhost:7002")
	fs := flag.NewFlagSet("x", flag.ContinueOnError)
	var out bytes.Buffer
	fs.SetOutput(&out)
	c := Register(fs)
	fs.PrintDefaults()
	if strings.Contains(out.String(), "usage-secret") {
		t.Errorf("usage shows a password:\n%s", out.String())
	}
	if !strings.Contains(out.String(), "redis://app:xxxxx@localhost:6379/0") {
		t.Errorf("usage does not show the masked default:\n%s", out.String())
	}
	if c.RedisURL != "redis://app:usage-secret-1@localhost:6379/0" {
		t.Errorf("the setting itself must keep the password, got %q", c.RedisURL)
	}
	if err := fs.Parse([]string{"--redis-url", "redis://:other-secret@h:1/0"}); err != nil || c.RedisURL != "redis://:other-secret@h:1/0" {
		t.Errorf("--redis-url did not set the URL: %q %v", c.RedisURL, err)
	}
}

// TestRedisClusterURL: REDIS_CLUSTER_URL names a real three-master cluster
// with a replica each, which log in to their masters (with the project's ACL
// user); Redis returns a cluster client that routes
// keys of every slot, while REDIS_URL alone keeps giving a one-server client.
func TestRedisClusterURL(t *testing.T) {
	unsetTemporalEnv(t)
	cluster := testenv.StartRedisCluster(t, testenv.ClusterOptions{Masters: 3, Replicas: 1, AppendOnly: true, AppPassword: "app-cluster-pw", AdminPassword: "admin-cluster-pw"})
	t.Setenv("REDIS_CLUSTER_URL", cluster.URL())
	c := FromEnv()
	ctx := context.Background()
	rdb, err := c.Redis(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer rdb.Close()
	cc, ok := rdb.(*redis.ClusterClient)
	if !ok {
		t.Fatalf("Redis() = %T, want *redis.ClusterClient", rdb)
	}
	for i := range 50 {
		key := fmt.Sprintf("ordersaga:test:%d", i)
		if err := cc.Set(ctx, key, i, 0).Err(); err != nil {
			t.Fatalf("set %s: %v", key, err)
		}
	}
	// Counted on the masters as the administration user: the application
	// user may not.
	var keys []int64
	for _, i := range cluster.Masters(ctx) {
		admin := redis.NewClient(&redis.Options{Addr: cluster.Nodes[i].Addr, Password: cluster.AdminPassword})
		n, err := admin.DBSize(ctx).Result()
		_ = admin.Close()
		if err != nil {
			t.Fatal(err)
		}
		keys = append(keys, n)
	}
	if len(keys) != 3 || keys[0]+keys[1]+keys[2] != 50 || slices.Contains(keys, 0) {
		t.Errorf("keys per master %v: want 50 spread over all 3", keys)
	}
	if err := cc.Do(ctx, "dbsize").Err(); err == nil || !strings.Contains(err.Error(), "NOPERM") {
		t.Errorf("dbsize as the application user: %v, want NOPERM", err)
	}

	os.Unsetenv("REDIS_CLUSTER_URL")
	one := testenv.StartRedis(t)
	t.Setenv("REDIS_URL", one.URL())
	single, err := FromEnv().Redis(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer single.Close()
	if _, ok := single.(*redis.Client); !ok {
		t.Errorf("REDIS_URL gives %T, want *redis.Client", single)
	}
}

// TestRedisOwnLogAtDebug: during an outage, go-redis's own messages (one
// per failed pool dial) go to the project's logger at debug level, with
// the password masked, and nowhere at the default level.
func TestRedisOwnLogAtDebug(t *testing.T) {
	unsetTemporalEnv(t)
	for _, level := range []slog.Level{slog.LevelDebug, slog.LevelInfo} {
		srv := testenv.StartRedisACL(t, "pw-never-logged-42", "admin-pw-never-logged-42")
		var buf testenv.SyncBuffer
		c := FromEnv()
		c.RedisURL = srv.AppURL()
		c.ConnectTimeout = time.Second
		c.Log = slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: level}))
		rdb, err := c.Redis(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		defer rdb.Close()
		srv.Kill()
		for range 3 {
			if err := rdb.Ping(context.Background()).Err(); err == nil {
				t.Fatal("ping answered with the server down")
			}
		}
		out := buf.String()
		if strings.Contains(out, "pw-never-logged-42") {
			t.Fatalf("the password is in the log:\n%s", out)
		}
		dials := strings.Count(out, "failed to dial")
		switch {
		case level == slog.LevelDebug && (dials == 0 || !strings.Contains(out, "level=DEBUG") || !strings.Contains(out, "component=redis")):
			t.Fatalf("want go-redis's failed dials at debug level with component=redis:\n%s", out)
		case level == slog.LevelInfo && out != "":
			t.Fatalf("want nothing at info level:\n%s", out)
		}
	}
}
