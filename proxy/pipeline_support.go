package proxy

import (
	"encoding/json"
	"errors"
	"fmt"

	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// What the pipeline's stages share: the guard's inline budget, result
// sizes, and the texts a failed or blocked call shows the client.

// promptBytes is the input size up to which the guard's checks run on the
// calling goroutine; -1 when the guard makes no such promise.
func (p *pipeline) promptBytes() int {
	if pg, ok := p.guard.(promptGuard); ok {
		return pg.PromptCheckBytes()
	}
	return -1
}

// resultBytes adds up the sizes of the strings and data of res (every
// content item with its annotations and _meta, structured content, _meta),
// stopping once the sum passes limit; a part of a kind it does not know
// counts as over the limit.
func resultBytes(res *mcp.CallToolResult, limit int) int {
	n := 0
	for _, c := range res.Content {
		switch c := c.(type) {
		case *mcp.TextContent:
			n += len(c.Text) + annotationBytes(c.Annotations) + valueBytes(map[string]any(c.Meta), 0, limit)
		case *mcp.ImageContent:
			n += len(c.Data) + len(c.MIMEType) + annotationBytes(c.Annotations) + valueBytes(map[string]any(c.Meta), 0, limit)
		case *mcp.AudioContent:
			n += len(c.Data) + len(c.MIMEType) + annotationBytes(c.Annotations) + valueBytes(map[string]any(c.Meta), 0, limit)
		case *mcp.ResourceLink:
			n += len(c.URI) + len(c.Name) + len(c.Title) + len(c.Description) + len(c.MIMEType) +
				annotationBytes(c.Annotations) + valueBytes(map[string]any(c.Meta), 0, limit)
			for _, ic := range c.Icons {
				n += len(ic.Source) + len(ic.MIMEType) + len(ic.Theme) + 8*len(ic.Sizes)
				for _, sz := range ic.Sizes {
					n += len(sz)
				}
			}
		case *mcp.EmbeddedResource:
			n += annotationBytes(c.Annotations) + valueBytes(map[string]any(c.Meta), 0, limit)
			if r := c.Resource; r != nil {
				n += len(r.URI) + len(r.MIMEType) + len(r.Text) + len(r.Blob) + valueBytes(map[string]any(r.Meta), 0, limit)
			}
		default:
			return limit + 1
		}
		if n > limit {
			return n
		}
	}
	n = valueBytes(res.StructuredContent, n, limit)
	if n > limit {
		return n
	}
	return valueBytes(map[string]any(res.Meta), n, limit)
}

// annotationBytes is the size of a content item's annotations.
func annotationBytes(a *mcp.Annotations) int {
	if a == nil {
		return 0
	}
	n := len(a.LastModified) + 16
	for _, r := range a.Audience {
		n += len(r) + 3
	}
	return n
}

// valueBytes adds the sizes of the strings, keys and raw JSON in v to n,
// stopping once n passes limit.
func valueBytes(v any, n, limit int) int {
	switch v := v.(type) {
	case nil, bool, float64, int, int64, json.Number:
		return n + 8
	case string:
		return n + len(v)
	case json.RawMessage:
		return n + len(v)
	case []any:
		for _, x := range v {
			if n = valueBytes(x, n, limit); n > limit {
				return n
			}
		}
		return n
	case map[string]any:
		for k, x := range v {
			if n = valueBytes(x, n+len(k), limit); n > limit {
				return n
			}
		}
		return n
	default:
		return limit + 1
	}
}

// blockedText is the client's message for a call a guardrail stopped at
// stage: the guard's own text, or, when no verdict came in time, a text
// naming the timeout.
func blockedText(err error, name, server, stage string) string {
	var te *TimeoutError
	if errors.As(err, &te) {
		what := map[string]string{"input": "the arguments were not forwarded to the server", "output": "the result was withheld"}[stage]
		return fmt.Sprintf("Tool %q on server %q blocked: the %s guardrails gave no verdict within %s (guardrail_timeout); %s.", name, server, stage, te.Budget, what)
	}
	return err.Error()
}

// undecodable replaces an error from decoding an upstream's reply, whose
// text quotes the reply, with one that says what happened and quotes
// nothing; other errors are returned as they are.
func undecodable(err error) error {
	var se *json.SyntaxError
	var te *json.UnmarshalTypeError
	if errors.As(err, &se) || errors.As(err, &te) {
		return errors.New("the server's reply does not decode as a tool result")
	}
	return err
}

// callFailure is a failure text meant for the client.
type callFailure string

func (c callFailure) Error() string { return string(c) }

// progressToken returns the client's progress token of req, or nil.
func progressToken(req *mcp.CallToolRequest) any {
	if req == nil || req.Params == nil {
		return nil
	}
	return req.Params.GetProgressToken()
}

// errorResult is an isError result carrying text.
func errorResult(text string) *mcp.CallToolResult {
	return &mcp.CallToolResult{IsError: true, Content: []mcp.Content{&mcp.TextContent{Text: text}}}
}
