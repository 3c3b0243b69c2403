package main

import (
	"go/ast"
	"go/parser"
	"go/token"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// TestConfigCallsCheckDetectors: every command that loads, saves, updates
// or validates a config passes checkDetectors, so no path skips checking
// block lists against guard's Registry (package config cannot know it).
// The admin package, which the CLI's writes go through, is held to the same.
func TestConfigCallsCheckDetectors(t *testing.T) {
	files, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	adminFiles, err := filepath.Glob("admin/*.go")
	if err != nil {
		t.Fatal(err)
	}
	files = append(files, adminFiles...)
	fset := token.NewFileSet()
	calls := 0
	for _, f := range files {
		if strings.HasSuffix(f, "_test.go") {
			continue
		}
		af, err := parser.ParseFile(fset, f, nil, 0)
		if err != nil {
			t.Fatal(err)
		}
		ast.Inspect(af, func(n ast.Node) bool {
			call, ok := n.(*ast.CallExpr)
			if !ok {
				return true
			}
			sel, ok := call.Fun.(*ast.SelectorExpr)
			if !ok {
				return true
			}
			pkg, _ := sel.X.(*ast.Ident)
			isConfig := pkg != nil && pkg.Name == "config" && slices.Contains([]string{"Load", "Save", "Update"}, sel.Sel.Name)
			if !isConfig && sel.Sel.Name != "Validate" {
				return true
			}
			calls++
			if !slices.ContainsFunc(call.Args, func(a ast.Expr) bool {
				id, ok := a.(*ast.Ident)
				return ok && id.Name == "checkDetectors"
			}) {
				t.Errorf("%s: %s call without checkDetectors", fset.Position(call.Pos()), sel.Sel.Name)
			}
			return true
		})
	}
	if calls < 10 {
		t.Errorf("found %d config calls; the test no longer sees them", calls)
	}
}
