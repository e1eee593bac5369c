package deploy_test

import (
	"bufio"
	"regexp"
	"strings"
	"testing"
)

// standins reads deploy/standins/images.txt: image -> stand-in.
func standins(t *testing.T) map[string]string {
	t.Helper()
	out := map[string]string{}
	sc := bufio.NewScanner(strings.NewReader(readFile(t, "deploy/standins/images.txt")))
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		image, standin, _ := strings.Cut(line, " ")
		out[image] = strings.TrimSpace(standin)
	}
	return out
}

// composeImages are the images of every service of both Compose files,
// every profile active, and of the Dockerfile's FROM lines; the
// project's own image is left out.
func composeImages(t *testing.T) map[string][]string {
	t.Helper()
	out := map[string][]string{}
	for _, p := range []string{"docker-compose.yml", postgresFile} {
		project := load(t)
		if p == postgresFile {
			project = loadPostgres(t)
		}
		for name, s := range project.Services {
			if s.Image != "" && s.Image != "ordersaga:dev" {
				out[s.Image] = append(out[s.Image], p+": "+name)
			}
		}
	}
	for _, m := range regexp.MustCompile(`(?m)^FROM\s+(\S+)`).FindAllStringSubmatch(readFile(t, "Dockerfile"), -1) {
		out[m[1]] = append(out[m[1]], "Dockerfile")
	}
	return out
}

// TestStandinsCoverComposeImages: every image the Compose files and the
// Dockerfile name has a stand-in (or is marked file-checked), built from a
// directory that exists, and deploy/standins/README.md gives its evidence;
// images.txt names nothing the files no longer use.
func TestStandinsCoverComposeImages(t *testing.T) {
	have := standins(t)
	readme := readFile(t, "deploy/standins/README.md")
	used := composeImages(t)
	for image, where := range used {
		standin, ok := have[image]
		if !ok {
			t.Errorf("%s (%s) has no stand-in in deploy/standins/images.txt", image, strings.Join(where, ", "))
			continue
		}
		if !strings.Contains(readme, "| `"+image+"` |") {
			t.Errorf("deploy/standins/README.md has no row for %s", image)
		}
		switch {
		case standin == "file-checked", strings.HasPrefix(standin, "("):
		default:
			if !strings.Contains(readFile(t, "deploy/standins/"+standin+"/Dockerfile"), "FROM") {
				t.Errorf("%s: deploy/standins/%s/Dockerfile has no FROM", image, standin)
			}
		}
	}
	for image := range have {
		if _, ok := used[image]; !ok {
			t.Errorf("deploy/standins/images.txt names %s, which no Compose file or Dockerfile uses", image)
		}
	}
}
