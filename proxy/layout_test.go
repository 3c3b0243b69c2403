package proxy

import (
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// Limits that keep the package in rooms a reader can hold in mind.
const (
	maxFileLines   = 600
	maxTypeMethods = 25
)

// TestLayout fails when a non-test file of the package is longer than
// maxFileLines or a type has more than maxTypeMethods methods.
func TestLayout(t *testing.T) {
	files, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	fset := token.NewFileSet()
	methods := map[string]int{}
	parsed := 0
	for _, name := range files {
		if strings.HasSuffix(name, "_test.go") {
			continue
		}
		src, err := os.ReadFile(name)
		if err != nil {
			t.Fatal(err)
		}
		if n := strings.Count(string(src), "\n"); n > maxFileLines {
			t.Errorf("%s has %d lines, more than %d: split it by responsibility", name, n, maxFileLines)
		}
		f, err := parser.ParseFile(fset, name, src, parser.SkipObjectResolution)
		if err != nil {
			t.Fatal(err)
		}
		parsed++
		for _, d := range f.Decls {
			if fd, ok := d.(*ast.FuncDecl); ok && fd.Recv != nil && len(fd.Recv.List) == 1 {
				methods[receiverType(fd.Recv.List[0].Type)]++
			}
		}
	}
	if parsed == 0 || methods["Gateway"] == 0 {
		t.Fatalf("parsed %d files, found %d methods of Gateway: the test does not see the package", parsed, methods["Gateway"])
	}
	for typ, n := range methods {
		if n > maxTypeMethods {
			t.Errorf("type %s has %d methods, more than %d: split it by responsibility", typ, n, maxTypeMethods)
		}
	}
}

// receiverType is the name of a method's receiver type: T for T, *T, T[P]
// and *T[P].
func receiverType(e ast.Expr) string {
	for {
		switch x := e.(type) {
		case *ast.StarExpr:
			e = x.X
		case *ast.IndexExpr:
			e = x.X
		case *ast.IndexListExpr:
			e = x.X
		case *ast.ParenExpr:
			e = x.X
		case *ast.Ident:
			return x.Name
		default:
			return ""
		}
	}
}
