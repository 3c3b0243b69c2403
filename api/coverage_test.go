package api

import (
	"flag"
	"fmt"
	"os"
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
