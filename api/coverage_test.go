package api

import (
	"flag"
	"fmt"
	"os"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
)

// exercised records every method and path the tests called.
var exercised = &calls{}

type calls struct {
	mu   sync.Mutex
	seen []string
}

func (c *calls) add(method, path string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.seen = append(c.seen, method+" "+path)
}

// TestMain fails the package when a full run leaves a documented route
// unexercised: every operation of the OpenAPI document is called at least
// once by some test.
func TestMain(m *testing.M) {
	code := m.Run()
	if f := flag.Lookup("test.run"); code == 0 && (f == nil || f.Value.String() == "") {
		if missing := unexercised(); len(missing) > 0 {
			fmt.Fprintf(os.Stderr, "routes no test exercised:\n  %s\n", strings.Join(missing, "\n  "))
			code = 1
		}
	}
	os.Exit(code)
}

func unexercised() []string {
	param := regexp.MustCompile(`\{[^}]+\}`)
	var missing []string
	for path, item := range Spec("test").Paths {
		re := regexp.MustCompile("^" + strings.ReplaceAll(regexp.QuoteMeta(param.ReplaceAllString(path, "\x00")), "\x00", "[^/]+") + "$")
		for method, op := range map[string]bool{"GET": item.Get != nil, "POST": item.Post != nil, "PUT": item.Put != nil, "DELETE": item.Delete != nil} {
			if !op {
				continue
			}
			hit := slices.ContainsFunc(exercised.seen, func(s string) bool {
				m, p, _ := strings.Cut(s, " ")
				return m == method && re.MatchString(p)
			})
			if !hit {
				missing = append(missing, method+" "+path)
			}
		}
	}
	slices.Sort(missing)
	return missing
}

// TestIssueRoutesDocumented: every route the issue lists
// (testdata/issue_routes.txt) is in the OpenAPI document, so TestMain's
// check makes some test call each of them.
func TestIssueRoutesDocumented(t *testing.T) {
	b, err := os.ReadFile("testdata/issue_routes.txt")
	if err != nil {
		t.Fatal(err)
	}
	spec := Spec("test")
	n := 0
	for line := range strings.Lines(string(b)) {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		n++
		method, path, _ := strings.Cut(line, " ")
		item := spec.Paths[path]
		var op any
		if item != nil {
			op = map[string]any{"GET": item.Get, "POST": item.Post, "PUT": item.Put, "DELETE": item.Delete}[method]
		}
		if item == nil || reflect.ValueOf(op).IsNil() {
			t.Errorf("%s is not in the OpenAPI document", line)
		}
	}
	if n < 60 {
		t.Fatalf("read only %d routes from testdata/issue_routes.txt", n)
	}
}
