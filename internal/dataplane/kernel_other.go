//go:build !linux

package dataplane

import (
	"errors"
	"runtime"
)

func newKernel() (kernel, error) {
	return nil, errors.New("network namespaces exist only on Linux, not on " + runtime.GOOS)
}

func nsPath(name string) string { return "/run/netns/" + name }
