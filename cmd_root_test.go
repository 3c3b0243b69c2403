package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"runtime/debug"
	"strings"
	"testing"

	"github.com/urfave/cli/v3"

	"secure-mcp-gateway/serve"
)

func TestResolveVersion(t *testing.T) {
	info := func(mod string, settings ...debug.BuildSetting) func() (*debug.BuildInfo, bool) {
		return func() (*debug.BuildInfo, bool) {
			return &debug.BuildInfo{Main: debug.Module{Version: mod}, Settings: settings}, true
		}
	}
	rev := debug.BuildSetting{Key: "vcs.revision", Value: "0123456789abcdef0123"}
	dirty := debug.BuildSetting{Key: "vcs.modified", Value: "true"}
	for _, c := range []struct {
		name, set string
		read      func() (*debug.BuildInfo, bool)
		want      string
	}{
		{"ldflags win", "v9.9.9", info("v1.0.0", rev), "v9.9.9"},
		{"module version", "dev", info("v1.2.3"), "v1.2.3"},
		{"checkout", "dev", info("v0.0.0-20261202010000-0123456789ab", rev), "v0.0.0-20261202010000-0123456789ab (revision 0123456789ab)"},
		{"modified checkout", "dev", info("(devel)", rev, dirty), "dev (revision 0123456789ab, modified)"},
		{"no build info", "dev", func() (*debug.BuildInfo, bool) { return nil, false }, "dev"},
	} {
		if got := resolveVersion(c.set, c.read); got != c.want {
			t.Errorf("%s: resolveVersion = %q, want %q", c.name, got, c.want)
		}
	}
}

// TestEveryCommandHasExample checks that every command's help shows an
// example, and that the example table names only commands that exist.
func TestEveryCommandHasExample(t *testing.T) {
	root := newRootCommand()
	seen := map[string]bool{}
	var walk func(c *cli.Command, path string)
	walk = func(c *cli.Command, path string) {
		for _, sub := range c.Commands {
			p := strings.TrimSpace(path + " " + sub.Name)
			seen[p] = true
			if len(sub.Commands) == 0 && !strings.Contains(sub.Description, "Example:\n  secure-mcp-gateway "+p) {
				t.Errorf("help of %q has no example of itself:\n%s", p, sub.Description)
			}
			walk(sub, p)
		}
	}
	walk(root, "")
	for p := range commandExamples {
		if !seen[p] {
			t.Errorf("commandExamples names %q, which is not a command", p)
		}
	}
}

// TestExitCode checks the mapping of an action's error to the process exit
// code, through any wrapping: the code a cli.Exit error carries, 2 for an
// option serving refused, 3 for a config serving cannot run with, else 1.
func TestExitCode(t *testing.T) {
	base := errors.New("boom")
	for _, c := range []struct {
		name string
		err  error
		want int
	}{
		{"plain", base, 1},
		{"cli.Exit", cli.Exit(base, exitAuth), exitAuth},
		{"wrapped cli.Exit", fmt.Errorf("run: %w", cli.Exit(base, exitConfig)), exitConfig},
		{"serve option", fmt.Errorf("serve: %w", &serve.OptionError{Option: "listen", Err: base}), exitUsage},
		{"serve config", &serve.ConfigError{Err: base}, exitConfig},
	} {
		if got := exitCode(c.err); got != c.want {
			t.Errorf("%s: exitCode = %d, want %d", c.name, got, c.want)
		}
	}
}

// TestOnlyOnce checks that a single-valued flag given twice is an error
// (the command never runs with one of the two values dropped), while a
// repeatable flag still collects every value.
func TestOnlyOnce(t *testing.T) {
	for _, c := range []struct {
		name    string
		args    []string
		wantErr bool
	}{
		{"string once", []string{"--args", "a,b"}, false},
		{"string twice", []string{"--args", "a", "--args", "b"}, true},
		{"int twice", []string{"--n", "1", "--n", "2"}, true},
		{"duration twice", []string{"--wait", "1s", "--wait=2s"}, true},
		{"repeatable", []string{"--arg", "a", "--arg", "b"}, false},
		{"switch twice", []string{"--json", "--json"}, false},
	} {
		t.Run(c.name, func(t *testing.T) {
			var ran bool
			var args []string
			cmd := &cli.Command{
				Name: "x",
				Flags: []cli.Flag{
					&cli.StringFlag{Name: "args"},
					&cli.IntFlag{Name: "n"},
					&cli.DurationFlag{Name: "wait"},
					&cli.StringSliceFlag{Name: "arg"},
					&cli.BoolFlag{Name: "json"},
				},
				Writer: io.Discard, ErrWriter: io.Discard,
				ExitErrHandler: func(context.Context, *cli.Command, error) {},
				Action: func(_ context.Context, cmd *cli.Command) error {
					ran, args = true, cmd.StringSlice("arg")
					return nil
				},
			}
			onlyOnce(&cli.Command{Commands: []*cli.Command{cmd}})
			err := cmd.Run(context.Background(), append([]string{"x"}, c.args...))
			if c.wantErr {
				if err == nil || ran {
					t.Fatalf("ran %v, err %v; want refused", ran, err)
				}
				return
			}
			if err != nil || !ran {
				t.Fatalf("ran %v, err %v", ran, err)
			}
			if c.name == "repeatable" && len(args) != 2 {
				t.Errorf("--arg values %q, want both", args)
			}
		})
	}
}
