# The README's two commands, and the checks CI runs.

# Show the gateway working end to end on a throwaway config.
try:
    go run . try

# Build the static gateway binary the README installs (no cgo: nothing to
# load at start), and beside it the lean hook binary that `install --hooks`
# then writes into the clients' hook entries.
build:
    CGO_ENABLED=0 go build -o bin/secure-mcp-gateway .
    CGO_ENABLED=0 go build -o bin/secure-mcp-gateway-hook ./cmd/secure-mcp-gateway-hook

# Run every test (the same command as the README and CI).
test:
    go test -race ./...

# gofmt, go vet and staticcheck.
lint:
    test -z "$(gofmt -l .)" || (gofmt -l . && exit 1)
    go vet ./...
    go run honnef.co/go/tools/cmd/staticcheck@v0.8.2 ./...

# Build for every platform the gateway supports.
cross:
    GOOS=linux GOARCH=amd64 go build -o /dev/null .
    GOOS=linux GOARCH=arm64 go build -o /dev/null .
    GOOS=darwin GOARCH=arm64 go build -o /dev/null .
    GOOS=darwin GOARCH=amd64 go build -o /dev/null .
    GOOS=windows GOARCH=amd64 go build -o /dev/null .

# The benchmark table of docs/BENCHMARKS.md: direct vs gateway vs the Node
# proxies, with go-sdk and TypeScript clients; then the detectors' throughput.
bench:
    cd testdata/bench-node && npm ci --no-audit --no-fund
    go run ./cmd/bench
    go test -run '^$' -bench 'AllDetectors|Detector' -count 6 ./guard

# Forwarded call vs direct call, as a go test benchmark.
bench-call:
    go test -run '^$' -bench BenchmarkCall -count 6 .
