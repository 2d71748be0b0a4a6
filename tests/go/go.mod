module goscope.test

go 1.19
