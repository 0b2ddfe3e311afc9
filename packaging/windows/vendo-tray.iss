; Inno Setup 6 script for Vendo Tray (Windows installer).
;
; Built by packaging/bundle.py on Windows when ISCC.exe is on PATH, or by hand:
;   iscc /DAppVersion=0.1.0 /DAppUserModelId=run.vendo.VendoTray /DArch=x64 /DSourceDir=%CD%\build\pyinstaller\dist\vendo-tray /DIconFile=%CD%\build\icons\vendo-tray.ico /DOutputDir=%CD%\dist packaging\windows\vendo-tray.iss
; SourceDir is PyInstaller's onedir output (vendo-tray.exe, vendo-tray-cli.exe, _internal\);
; IconFile is rendered by packaging/icons.py. Paths are relative to this script's folder
; unless absolute (bundle.py passes absolute ones).
;
; WHY the AppUserModelID on the shortcut: Windows labels toasts by the AUMID of the
; app that sent them. The app sets the same ID for its process at start
; (app/vendo_tray/ui/platform_id.py), and a Start-menu shortcut carrying it lets
; the Action Center show "Vendo Tray" with our icon instead of "Python".

#ifndef AppVersion
  #error Pass /DAppVersion=x.y.z
#endif
#ifndef SourceDir
  #define SourceDir "..\..\build\pyinstaller\dist\vendo-tray"
#endif
#ifndef IconFile
  #define IconFile "..\..\build\icons\vendo-tray.ico"
#endif
#ifndef OutputDir
  #define OutputDir "..\..\dist"
#endif
#ifndef Arch
  #define Arch "x64"
#endif

#ifndef AppUserModelId
  #error Pass /DAppUserModelId=<vendo_tray.APP_ID> (bundle.py does)
#endif

#define AppName "Vendo Tray"
#define AppId AppUserModelId

[Setup]
AppId={{9B3C1E52-6F0A-4C3E-9E7B-2D6A1F0C7A41}
AppName={#AppName}
AppVersion={#AppVersion}
AppVerName={#AppName} {#AppVersion}
AppPublisher=Vendo Tray contributors
DefaultDirName={autopf}\{#AppName}
DefaultGroupName={#AppName}
DisableProgramGroupPage=yes
; Per-user install by default (no admin prompt); the dialog offers all users.
PrivilegesRequired=lowest
PrivilegesRequiredOverridesAllowed=dialog
OutputDir={#OutputDir}
OutputBaseFilename=vendo-tray-{#AppVersion}-windows-{#Arch}-setup
SetupIconFile={#IconFile}
UninstallDisplayIcon={app}\vendo-tray.exe
Compression=lzma2/max
SolidCompression=yes
WizardStyle=modern
#if Arch == "x64"
ArchitecturesAllowed=x64compatible
ArchitecturesInstallIn64BitMode=x64compatible
#elif Arch == "arm64"
ArchitecturesAllowed=arm64
ArchitecturesInstallIn64BitMode=arm64
#endif
CloseApplications=yes

[Files]
Source: "{#SourceDir}\*"; DestDir: "{app}"; Flags: ignoreversion recursesubdirs createallsubdirs

[Icons]
Name: "{autoprograms}\{#AppName}"; Filename: "{app}\vendo-tray.exe"; AppUserModelID: "{#AppId}"; Comment: "Vendo notifications in the tray"
Name: "{autodesktop}\{#AppName}"; Filename: "{app}\vendo-tray.exe"; AppUserModelID: "{#AppId}"; Tasks: desktopicon

[Tasks]
Name: "desktopicon"; Description: "{cm:CreateDesktopIcon}"; GroupDescription: "{cm:AdditionalIcons}"; Flags: unchecked

[Run]
Filename: "{app}\vendo-tray.exe"; Description: "{cm:LaunchProgram,{#AppName}}"; Flags: nowait postinstall skipifsilent

[UninstallRun]
Filename: "{sys}\taskkill.exe"; Parameters: "/IM vendo-tray.exe /F"; Flags: runhidden; RunOnceId: "StopVendoTray"

[Registry]
; Removed on uninstall only (ValueType none creates nothing): the start-at-login entry
; the app's settings may have written, and the toast display name platform_id.py registers.
Root: HKCU; Subkey: "Software\Microsoft\Windows\CurrentVersion\Run"; ValueType: none; ValueName: "{#AppName}"; Flags: uninsdeletevalue dontcreatekey
Root: HKCU; Subkey: "Software\Classes\AppUserModelId\{#AppId}"; ValueType: none; Flags: uninsdeletekey dontcreatekey
