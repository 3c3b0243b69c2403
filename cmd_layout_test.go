package main

import (
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"strings"
	"testing"
)

// TestRootDeclaresNoMethods keeps package main to parsing flags and wiring
// (ARCHITECTURE.md): behaviour with state lives in the domain packages, so
// a type with methods in the root package fails here. Exit codes travel
// as the CLI library's cli.Exit errors.
func TestRootDeclaresNoMethods(t *testing.T) {
	entries, err := os.ReadDir(".")
	if err != nil {
		t.Fatal(err)
	}
	fset := token.NewFileSet()
	files := 0
	for _, e := range entries {
		name := e.Name()
		if e.IsDir() || !strings.HasSuffix(name, ".go") || strings.HasSuffix(name, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(fset, name, nil, parser.SkipObjectResolution)
		if err != nil {
			t.Fatal(err)
		}
		if f.Name.Name != "main" {
			continue
		}
		files++
		for _, d := range f.Decls {
			fd, ok := d.(*ast.FuncDecl)
			if !ok || fd.Recv == nil || len(fd.Recv.List) == 0 {
				continue
			}
			typ := receiverType(fd.Recv.List[0].Type)
			t.Errorf("%s: method %s.%s in package main; move the type to the package that owns its behaviour (serve, admin, ...)",
				fset.Position(fd.Pos()), typ, fd.Name.Name)
		}
	}
	if files < 10 {
		t.Fatalf("parsed only %d files of package main; is the test run from the module root?", files)
	}

}

// receiverType is the type name of a method receiver: T, *T, T[P] or *T[P].
func receiverType(e ast.Expr) string {
	for {
		switch x := e.(type) {
		case *ast.StarExpr:
			e = x.X
		case *ast.IndexExpr:
			e = x.X
		case *ast.IndexListExpr:
			e = x.X
		case *ast.Ident:
			return x.Name
		default:
			return "?"
		}
	}
}
