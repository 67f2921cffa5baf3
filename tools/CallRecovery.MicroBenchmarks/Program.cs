// Micro-benchmarks of the hot pure code (BenchmarkDotNet; Release build, nothing else heavy running):
//
//   dotnet run -c Release --project tools/CallRecovery.MicroBenchmarks -- --filter '*'
//   dotnet run -c Release --project tools/CallRecovery.MicroBenchmarks -- --filter '*' --job short   # a quick look
using BenchmarkDotNet.Running;

BenchmarkSwitcher.FromAssembly(typeof(CallRecovery.MicroBenchmarks.HotPathBenchmarks).Assembly).Run(args);
