package examples

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// ProbeRevealPrefix is the prefix of the environment variable names whose
// values the probe's env tool reveals; for any other name it says only
// whether the variable is set, so that a probe wired to a real client cannot
// leak a secret that did reach it.
const ProbeRevealPrefix = "PROBE_"

// ProbeCancelFileEnv names the environment variable holding a file to which
// the probe's sleep tool appends a line "cancelled" when its call is
// cancelled, so that a test can see cancellation reach the upstream.
const ProbeCancelFileEnv = "PROBE_CANCEL_FILE"

// ProbeLabelEnv names the environment variable whose value, when set, the
// sleep tool adds to its answer ("slept (label)"), so that a test running
// several probes can tell whose answer it got.
const ProbeLabelEnv = "PROBE_LABEL"

// osExit is os.Exit, replaced in tests so that the crash tool can be tested
// in-process.
var osExit = os.Exit

type envIn struct {
	Name string `json:"name" jsonschema:"the environment variable to look up"`
}

type envOut struct {
	Name  string `json:"name"`
	Set   bool   `json:"set"`
	Value string `json:"value,omitempty" jsonschema:"the value, only for names starting with PROBE_"`
}

type envNamesOut struct {
	Names []string `json:"names"`
}

type argvOut struct {
	Argv []string `json:"argv"`
}

type pidOut struct {
	PID  int `json:"pid"`
	PGID int `json:"pgid" jsonschema:"the process group, -1 where there is none"`
}

type crashIn struct {
	Code int `json:"code" jsonschema:"the exit code, 0 to 255"`
}

type sleepIn struct {
	MS int `json:"ms" jsonschema:"how long to sleep, in milliseconds"`
}

func newProbe() *mcp.Server {
	s := mcp.NewServer(&mcp.Implementation{Name: "probe", Version: Version}, &mcp.ServerOptions{
		Instructions: "A diagnostic server for tests and troubleshooting. Never expose it to untrusted clients.",
	})
	mcp.AddTool(s, &mcp.Tool{
		Name: "env",
		Description: "Reports whether an environment variable is set in this server's process. " +
			"Its value is returned only for names starting with PROBE_.",
	}, probeEnv)
	mcp.AddTool(s, &mcp.Tool{
		Name:        "env_names",
		Description: "Returns the sorted names (not the values) of this server's environment variables.",
	}, probeEnvNames)
	mcp.AddTool(s, &mcp.Tool{
		Name:        "argv",
		Description: "Returns this server's command line (os.Args) as a JSON array.",
	}, probeArgv)
	mcp.AddTool(s, &mcp.Tool{
		Name:        "pid",
		Description: "Returns this server's process id and process group id.",
	}, probePID)
	mcp.AddTool(s, &mcp.Tool{
		Name:        "crash",
		Description: "Exits this server's process at once with the given code, without answering the call.",
	}, probeCrash)
	mcp.AddTool(s, &mcp.Tool{
		Name: "sleep",
		Description: "Sleeps for ms milliseconds and returns \"slept\" (and the server's label, when it has one), after a progress notification (0 of ms) " +
			"when the call carries a progress token. When the call is cancelled it stops and appends " +
			"\"cancelled\" to the file named by PROBE_CANCEL_FILE, if set.",
	}, probeSleep)
	mcp.AddTool(s, &mcp.Tool{
		Name:        "spawn_grandchild",
		Description: "Starts `sleep 1000` as a child of this server, in its process group, and returns its pid.",
	}, probeSpawnGrandchild)
	return s
}

func probeEnv(_ context.Context, _ *mcp.CallToolRequest, in envIn) (*mcp.CallToolResult, envOut, error) {
	if in.Name == "" {
		return nil, envOut{}, errors.New("name must not be empty")
	}
	v, ok := os.LookupEnv(in.Name)
	out := envOut{Name: in.Name, Set: ok}
	text := "unset"
	if ok {
		text = "set"
		if strings.HasPrefix(in.Name, ProbeRevealPrefix) {
			out.Value, text = v, v
		}
	}
	return textResult(text), out, nil
}

func probeEnvNames(context.Context, *mcp.CallToolRequest, struct{}) (*mcp.CallToolResult, envNamesOut, error) {
	names := []string{}
	for _, kv := range os.Environ() {
		name, _, _ := strings.Cut(kv, "=")
		// Windows keeps per-drive working directories in variables named "=C:".
		if name != "" {
			names = append(names, name)
		}
	}
	slices.Sort(names)
	names = slices.Compact(names)
	return jsonResult(names), envNamesOut{Names: names}, nil
}

func probeArgv(context.Context, *mcp.CallToolRequest, struct{}) (*mcp.CallToolResult, argvOut, error) {
	return jsonResult(os.Args), argvOut{Argv: os.Args}, nil
}

func probePID(context.Context, *mcp.CallToolRequest, struct{}) (*mcp.CallToolResult, pidOut, error) {
	out := pidOut{PID: os.Getpid(), PGID: processGroup()}
	return textResult(fmt.Sprintf("pid=%d pgid=%d", out.PID, out.PGID)), out, nil
}

func probeCrash(_ context.Context, _ *mcp.CallToolRequest, in crashIn) (*mcp.CallToolResult, any, error) {
	if in.Code < 0 || in.Code > 255 {
		return nil, nil, fmt.Errorf("code %d out of range 0..255", in.Code)
	}
	osExit(in.Code)
	return textResult("exit refused"), nil, nil // reached only in tests
}

func probeSleep(ctx context.Context, req *mcp.CallToolRequest, in sleepIn) (*mcp.CallToolResult, any, error) {
	if in.MS < 0 {
		return nil, nil, fmt.Errorf("ms %d must not be negative", in.MS)
	}
	// Progress 0 tells a caller that asked for progress that the sleep has
	// begun, so that a test can cancel a call known to be in flight.
	if tok := req.Params.GetProgressToken(); tok != nil {
		err := req.Session.NotifyProgress(ctx, &mcp.ProgressNotificationParams{
			ProgressToken: tok, Message: "sleeping", Total: float64(in.MS),
		})
		if err != nil {
			return nil, nil, fmt.Errorf("notify progress: %w", err)
		}
	}
	if name := os.Getenv(ProbeCancelFileEnv); name != "" {
		if err := appendLine(name, "started"); err != nil {
			return nil, nil, fmt.Errorf("record start: %w", err)
		}
	}
	t := time.NewTimer(time.Duration(in.MS) * time.Millisecond)
	defer t.Stop()
	select {
	case <-t.C:
		if label := os.Getenv(ProbeLabelEnv); label != "" {
			return textResult("slept (" + label + ")"), nil, nil
		}
		return textResult("slept"), nil, nil
	case <-ctx.Done():
		if name := os.Getenv(ProbeCancelFileEnv); name != "" {
			if err := appendLine(name, "cancelled"); err != nil {
				return nil, nil, fmt.Errorf("record cancellation: %w", err)
			}
		}
		return nil, nil, ctx.Err()
	}
}

func probeSpawnGrandchild(context.Context, *mcp.CallToolRequest, struct{}) (*mcp.CallToolResult, pidOut, error) {
	pid, err := spawnGrandchild()
	if err != nil {
		return nil, pidOut{}, fmt.Errorf("spawn grandchild: %w", err)
	}
	out := pidOut{PID: pid, PGID: processGroup()}
	return textResult(fmt.Sprintf("pid=%d", pid)), out, nil
}

// jsonResult returns a text result holding v as JSON.
func jsonResult(v any) *mcp.CallToolResult {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err) // only string slices reach here
	}
	return textResult(string(b))
}

func appendLine(name, line string) error {
	f, err := os.OpenFile(name, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
	if err != nil {
		return err
	}
	if _, err := f.WriteString(line + "\n"); err != nil {
		_ = f.Close()
		return err
	}
	return f.Close()
}
