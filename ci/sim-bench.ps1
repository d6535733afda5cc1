# The plans on the simulated bench on a Windows runner, in PowerShell: each template's Windows
# self-test (docs/howto-windows-lab-pc.md). Installs benchtest in a fresh .venv and runs
# `benchtest run --sim`; Windows has no pseudo-terminals, so the simulated debug port is a
# socket:// endpoint and the instrument locks are msvcrt locks under %PROGRAMDATA%.
#
#   BENCHTEST_OUT    artifact folder, made afresh (default: nightly-out\windows): the run file
#                    under run\, junit.xml
#   BENCHTEST_PLANS  plan files or folders, separated by spaces (default: test_plans\ldo)
#   BENCHTEST_DUT    DUT profile (default: dut_profiles\bt_ldo33.yaml)
#
# Exit status: that of `benchtest run` (0 all passed, 1 a test failed, 2 usage or bench file,
# 69 an instrument could not be reached), or 2 when the artifact folder is not empty.
# Exit codes are checked one by one: no $ErrorActionPreference = 'Stop', with which Windows
# PowerShell 5.1 (Jenkins' `powershell` step) ends the script at a native command's first
# line on stderr (a pip notice).

$out = if ($env:BENCHTEST_OUT) { $env:BENCHTEST_OUT } else { 'nightly-out\windows' }
$plans = if ($env:BENCHTEST_PLANS) { $env:BENCHTEST_PLANS -split ' ' } else { @('test_plans\ldo') }
$dut = if ($env:BENCHTEST_DUT) { $env:BENCHTEST_DUT } else { 'dut_profiles\bt_ldo33.yaml' }
if ((Test-Path $out) -and (Get-ChildItem -Force $out | Select-Object -First 1)) {
    [Console]::Error.WriteLine("sim-bench: $out is not empty; the job needs a fresh artifact folder")
    exit 2
}

python -m venv .venv
if ($LASTEXITCODE -ne 0) { exit $LASTEXITCODE }
.venv\Scripts\python.exe -m pip install --quiet -e .
if ($LASTEXITCODE -ne 0) { exit $LASTEXITCODE }

.venv\Scripts\benchtest.exe run @plans --sim --dut $dut --serial-number SIM-0001 --results-dir "$out\run" --junitxml "$out\junit.xml"
exit $LASTEXITCODE
