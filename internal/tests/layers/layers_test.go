package layers

import (
	"encoding/json"
	"fmt"
	"io"
	"os/exec"
	"slices"
	"strings"
	"testing"
)

const module = "github.com/ordersaga/ordersaga/"

// support marks the test support: it may import anything, and nothing but
// tests may import it.
const support = -1

// floors are the floors of the house, bottom up, each a list of package
// patterns ("x/*" is every package under x). A package may import one on
// its own floor or below; docs/architecture.md draws the same floors.
var floors = [][]string{
	{"shop"},
	{"internal/platform/*"},
	{"activities"},
	{"choreography/stream", "choreography", "workflows"},
	{"internal/app/*"},
	{"worker", "starter"},
}

var supportPatterns = []string{"internal/testkit/*", "internal/tests/*"}

// apart are imports forbidden even on one floor: the two engines are
// siblings, and the stream machinery knows nothing of orders.
var apart = map[string][]string{
	"workflows":           {"choreography", "choreography/stream"},
	"choreography":        {"workflows"},
	"choreography/stream": {"shop", "activities", "choreography", "workflows"},
}

func match(pattern, pkg string) bool {
	if dir, ok := strings.CutSuffix(pattern, "/*"); ok {
		return strings.HasPrefix(pkg, dir+"/")
	}
	return pkg == pattern
}

// floor returns the floor of pkg (a path inside the module), support for the
// test support, or false when no floor names it.
func floor(pkg string) (int, bool) {
	for _, p := range supportPatterns {
		if match(p, pkg) {
			return support, true
		}
	}
	for i, f := range floors {
		if slices.ContainsFunc(f, func(p string) bool { return match(p, pkg) }) {
			return i, true
		}
	}
	return 0, false
}

// pkg is what the check reads of one package: its path inside the module
// and the module's packages its program code (not its tests) imports.
type pkg struct {
	Path    string
	Imports []string
}

// check returns every import that goes against the floors.
func check(pkgs []pkg) []string {
	var bad []string
	for _, p := range pkgs {
		from, ok := floor(p.Path)
		if !ok {
			bad = append(bad, fmt.Sprintf("%s is on no floor: add it to the floors in internal/tests/layers and docs/architecture.md", p.Path))
			continue
		}
		for _, imp := range p.Imports {
			to, ok := floor(imp)
			switch {
			case !ok:
				bad = append(bad, fmt.Sprintf("%s imports %s, which is on no floor", p.Path, imp))
			case to == support && from != support:
				bad = append(bad, fmt.Sprintf("%s imports the test support %s", p.Path, imp))
			case from != support && to > from:
				bad = append(bad, fmt.Sprintf("%s (floor %d) imports %s (floor %d, higher)", p.Path, from, imp, to))
			case slices.Contains(apart[p.Path], imp):
				bad = append(bad, fmt.Sprintf("%s imports %s, which it must stay apart from", p.Path, imp))
			}
		}
	}
	return bad
}

// list reads the module's packages with go list.
func list(t *testing.T) []pkg {
	t.Helper()
	cmd := exec.Command("go", "list", "-json=ImportPath,Imports", module+"...")
	cmd.Dir = "../../.."
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	var pkgs []pkg
	dec := json.NewDecoder(strings.NewReader(string(out)))
	for {
		var p struct {
			ImportPath string
			Imports    []string
		}
		if err := dec.Decode(&p); err == io.EOF {
			break
		} else if err != nil {
			t.Fatalf("decode go list: %v", err)
		}
		own := pkg{Path: strings.TrimPrefix(p.ImportPath, module)}
		for _, imp := range p.Imports {
			if rest, ok := strings.CutPrefix(imp, module); ok {
				own.Imports = append(own.Imports, rest)
			}
		}
		pkgs = append(pkgs, own)
	}
	if len(pkgs) < 10 {
		t.Fatalf("go list found %d packages of the module; want them all", len(pkgs))
	}
	return pkgs
}

// TestFloors: no package of the module imports one on a higher floor, the
// engines and the stream machinery stay apart, and only tests import the
// test support.
func TestFloors(t *testing.T) {
	for _, b := range check(list(t)) {
		t.Error(b)
	}
}

// TestFloorsCatch: the check reports an import up a floor, an import of the
// test support, an import between the engines and a package on no floor.
func TestFloorsCatch(t *testing.T) {
	for _, c := range []struct {
		pkg  pkg
		want string
	}{
		{pkg{"workflows", []string{"internal/app/verify"}}, "workflows (floor 3) imports internal/app/verify (floor 4, higher)"},
		{pkg{"internal/platform/config", []string{"activities"}}, "internal/platform/config (floor 1) imports activities (floor 2, higher)"},
		{pkg{"starter", []string{"internal/testkit/testenv"}}, "starter imports the test support internal/testkit/testenv"},
		{pkg{"workflows", []string{"internal/testkit/teststack"}}, "workflows imports the test support internal/testkit/teststack"},
		{pkg{"choreography", []string{"workflows"}}, "choreography imports workflows, which it must stay apart from"},
		{pkg{"choreography/stream", []string{"shop"}}, "choreography/stream imports shop, which it must stay apart from"},
		{pkg{"newpkg", nil}, "newpkg is on no floor"},
	} {
		got := check([]pkg{c.pkg})
		if len(got) != 1 || !strings.HasPrefix(got[0], c.want) {
			t.Errorf("check(%v) = %q, want one report starting %q", c.pkg, got, c.want)
		}
	}
	ok := []pkg{
		{"internal/tests/chaos", []string{"starter", "internal/testkit/testenv"}},
		{"internal/testkit/teststack", []string{"workflows", "choreography", "internal/platform/poll", "internal/testkit/testenv"}},
		{"internal/app/web", []string{"choreography", "workflows", "internal/app/verify", "shop"}},
		{"activities", []string{"internal/platform/keyspace", "shop"}},
	}
	if got := check(ok); len(got) > 0 {
		t.Errorf("check of allowed imports reported %q", got)
	}
}
