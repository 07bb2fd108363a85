package ecr

import "fmt"

func sprint(format string, a ...any) string { return fmt.Sprintf(format, a...) }
