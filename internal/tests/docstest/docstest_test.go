package docstest

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/ordersaga/ordersaga/internal/testkit/testenv"
)

const sample = "# A page\n\n" +
	"```sh\nsource .state/env\ngo run ./starter order \\\n  --fail payment   # declined\n```\n\n" +
	"```console\nMODE  STATUS\norchestration  COMPENSATED  55.2ms\n```\n\n" +
	"<!-- docs-test: skip (needs Docker) -->\n```sh\ndocker compose up -d\n```\n\n" +
	"```console\n$ starter status o-6478d5a628dd\nMODE  STATUS\n…\n$ starter verify\n```\n\n" +
	"```toml\nx = 1\n```\n"

func TestParse(t *testing.T) {
	steps, err := Parse("a.md", sample)
	if err != nil {
		t.Fatal(err)
	}
	type row struct {
		Line      int
		Cmd, Skip string
		Want      []string
	}
	var got []row
	for _, s := range steps {
		got = append(got, row{s.Line, s.Command, s.Skip, s.Want})
	}
	want := []row{
		{4, "source .state/env", "", nil},
		{5, "go run ./starter order  --fail payment   # declined", "", []string{"MODE  STATUS", "orchestration  COMPENSATED  55.2ms"}},
		{16, "docker compose up -d", "needs Docker", nil},
		{20, "starter status o-6478d5a628dd", "", []string{"MODE  STATUS", "…"}},
		{23, "starter verify", "", nil},
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("Parse:\n got %+v\nwant %+v", got, want)
	}
	if _, err := Parse("b.md", "<!-- docs-test: skip (x) -->\ntext\n"); err == nil {
		t.Fatal("a skip mark without a block parsed")
	}
	if _, err := Parse("c.md", "<!-- docs-test: skip -->\n```sh\nls\n```\n"); err == nil {
		t.Fatal("a skip mark without a reason parsed")
	}
	steps, err = Parse("d.md", "<!-- docs-test: skip make test (the suite (all of it)) -->\n```sh\nmake demo\nmake test   # all\n```\n")
	if err != nil || len(steps) != 2 || steps[0].Skip != "" || steps[1].Skip != "the suite (all of it)" {
		t.Fatalf("a skip mark for one command: %+v, %v", steps, err)
	}
}

func TestMatch(t *testing.T) {
	want := []string{
		"MODE           STATUS       STEPS DONE  COMPENSATED  ELAPSED",
		"orchestration  COMPENSATED  inventory   inventory    55.2ms",
		"…",
		"Temporal UI: http://localhost:8233/namespaces/default/workflows/order-o-6478d5a628dd",
	}
	got := "order o-0123456789ab  items: book:1\n\nMODE  STATUS  STEPS DONE  COMPENSATED  ELAPSED\n" +
		"orchestration  COMPENSATED  inventory  inventory  1.21s\nchoreography ...\n" +
		"Temporal UI: http://localhost:18233/namespaces/default/workflows/order-o-0123456789ab\n"
	if err := Match(want, got); err != nil {
		t.Fatal(err)
	}
	for _, changed := range []string{
		strings.Replace(got, "COMPENSATED  inventory", "COMPLETED  inventory", 1),
		strings.Replace(got, "Temporal UI", "UI", 1),
		// the same lines in another order
		strings.Replace(got, "MODE  STATUS  STEPS DONE  COMPENSATED  ELAPSED\n", "", 1) + "MODE STATUS STEPS DONE COMPENSATED ELAPSED\n",
	} {
		if Match(want, changed) == nil {
			t.Errorf("output %q matched", changed)
		}
	}
	if err := Match(want[:2], "MODE STATUS STEPS DONE COMPENSATED ELAPSED\n"); err == nil {
		t.Error("a missing line matched")
	}
}

func TestIDs(t *testing.T) {
	var ids IDs
	ids.Learn([]string{"order o-6478d5a628dd  items: book:1"}, "order o-0123456789ab  items: book:1\n")
	ids.Learn(nil, "order o-ffffffffffff  items: book:1\n")
	if got := ids.Command("starter status o-6478d5a628dd"); got != "starter status o-0123456789ab" {
		t.Errorf("a shown ID: %q", got)
	}
	if got := ids.Command("starter repair o-1f0c2a9be511"); got != "starter repair o-ffffffffffff" {
		t.Errorf("an ID never shown: %q", got)
	}
}

func TestInvocations(t *testing.T) {
	for cmd, want := range map[string][]Invocation{
		"go run ./starter order --fail payment     # declined": {{"starter", []string{"order", "--fail", "payment"}}},
		"TEMPORAL_PROFILE=cloud worker":                        {{"worker", nil}},
		"docker compose run --rm --no-deps starter status ORDER_ID --mode choreography": {
			{"starter", []string{"status", "ORDER_ID", "--mode", "choreography"}}},
		"go run ./worker healthcheck --addr 127.0.0.1:9464 && echo ready": {{"worker", []string{"healthcheck", "--addr", "127.0.0.1:9464"}}},
		"curl -s 127.0.0.1:9464/metrics | grep ordersaga_":                nil,
		"docker compose logs -f worker":                                   nil,
		`starter order --customer "a b" >out.txt`:                         {{"starter", []string{"order", "--customer", "a b"}}},
	} {
		if got := Invocations(cmd); !reflect.DeepEqual(got, want) {
			t.Errorf("Invocations(%q) = %q, want %q", cmd, got, want)
		}
	}
}

// TestDocumentedFlags runs every starter and worker command line of the
// docs, skipped ones included, with --help appended: the binaries parse
// every flag before they look at --help, so a flag or command the docs use
// and the binary no longer has fails here, without a stack.
func TestDocumentedFlags(t *testing.T) {
	root := testenv.RepoRoot()
	bin := buildBinaries(t, root)
	steps, err := Steps(root)
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, s := range steps {
		for _, inv := range Invocations(s.Command) {
			n++
			if out, err := helpRun(bin, inv); err != nil {
				t.Errorf("%s: %s %q --help: %v\n%s", s.Name(), inv.Prog, inv.Args, err, out)
			}
		}
	}
	if n < 20 {
		t.Errorf("only %d starter and worker commands found in the docs", n)
	}
	// A doc that uses a flag the starter does not have fails.
	removed, err := Parse("removed.md", "```sh\nstarter order --fail payment --no-such-flag\n```\n")
	if err != nil {
		t.Fatal(err)
	}
	if out, err := helpRun(bin, Invocations(removed[0].Command)[0]); err == nil {
		t.Errorf("a flag the starter lacks passed:\n%s", out)
	}
}

func buildBinaries(t *testing.T, root string) string {
	t.Helper()
	bin := t.TempDir()
	cmd := exec.Command("go", "build", "-o", bin+string(filepath.Separator), "./starter", "./worker")
	cmd.Dir = root
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

func helpRun(bin string, inv Invocation) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, filepath.Join(bin, inv.Prog), append(inv.Args, "--help")...)
	cmd.Env = append(os.Environ(), "TEMPORAL_ADDRESS=127.0.0.1:1", "REDIS_URL=redis://127.0.0.1:1/0")
	out, err := cmd.CombinedOutput()
	return string(out), err
}

func TestUpdate(t *testing.T) {
	dir := t.TempDir()
	doc := "# x\n\n```console\n$ starter verify\nold line\n…\n$ starter stock\n```\n"
	if err := os.WriteFile(filepath.Join(dir, "x.md"), []byte(doc), 0o644); err != nil {
		t.Fatal(err)
	}
	steps, err := Parse("x.md", doc)
	if err != nil {
		t.Fatal(err)
	}
	fix := strings.NewReplacer(":18233", ":8233").Replace
	if err := Update(dir, steps, map[int]Run{0: {"starter verify --mode both", "new 1 http://localhost:18233\nnew 2\n"}, 1: {"starter stock", "not shown\n"}}, fix); err != nil {
		t.Fatal(err)
	}
	got, _ := os.ReadFile(filepath.Join(dir, "x.md"))
	if want := "# x\n\n```console\n$ starter verify --mode both\nnew 1 http://localhost:8233\nnew 2\n$ starter stock\n```\n"; string(got) != want {
		t.Errorf("updated doc:\n%s\nwant:\n%s", got, want)
	}
}

// TestShell runs documented commands in one shell environment: a variable
// one command exports reaches the next, a failing command fails the step,
// and an output without the documented lines fails it too.
func TestShell(t *testing.T) {
	dir := t.TempDir()
	sh := &Shell{Dir: dir, Env: os.Environ(), Timeout: time.Minute, State: filepath.Join(dir, "state")}
	steps, err := Parse("s.md", "```sh\nexport GREETING=hello\necho \"$GREETING world\"\n```\n\n```console\nhello world\n```\n"+
		"```sh\necho hello\nfalse\n```\n\n```console\n$ echo bye\nhello\n```\n")
	if err != nil {
		t.Fatal(err)
	}
	var errs []bool
	for _, s := range steps {
		_, err := sh.Run(context.Background(), s)
		errs = append(errs, err != nil)
	}
	if want := []bool{false, false, false, true, true}; !reflect.DeepEqual(errs, want) {
		t.Errorf("failed steps %v, want %v", errs, want)
	}
}
