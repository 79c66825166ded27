module github.com/k2opt/k2opt

go 1.26
