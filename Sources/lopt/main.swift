import ArgumentParser
import LoptCLI

LoptCommand.main()
