module {{project}}

go 1.19
